"""A cheap check that an Ollama server answers: ``GET /api/version``, short timeout."""

from __future__ import annotations

import urllib3

from .client import Upstream


def probe(upstream: Upstream, timeout: float) -> bool:
    """True when ``upstream`` answers ``GET /api/version`` with a 200 in time."""
    try:
        resp = upstream.pool.urlopen(
            "GET",
            upstream.base_path + "/api/version",
            headers={"Accept": "application/json"},
            redirect=False,
            assert_same_host=False,
            retries=False,
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            preload_content=True,  # a few bytes: read them and free the connection
        )
    except (urllib3.exceptions.HTTPError, OSError):
        return False
    return resp.status == 200
