"""The fleet's model names, for the key form's allowlist: suggestions and warnings.

One lookup: the routing work's ``Fleet`` when the gate has one, else the one
upstream's ``/api/tags`` with a short timeout. Any failure means no suggestions,
never an error page.
"""

from __future__ import annotations

import json
import logging
import time

import urllib3
from flask import current_app

from ..limits.access import model_allowed

log = logging.getLogger(__name__)
TIMEOUT = urllib3.Timeout(connect=1.0, read=2.0)
# an upstream's answer (or failure) is kept this long per process: asking took ~45 ms
# a page view, and a down upstream would cost its timeout on every view
CACHE_SECONDS = 30.0
CACHE = "ollama_gate_fleet_models"  # in app.extensions: (expiry, names)


def fleet_model_names() -> list[str]:
    """Every model name the fleet serves, sorted; [] when it cannot be asked."""
    gate = current_app.extensions["ollama_gate"]
    if hasattr(gate, "fleet"):  # the routing work's inventory, already in memory
        return _names(gate.fleet.model_names)
    cached = current_app.extensions.get(CACHE)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    names = _names(lambda: _tags(gate.upstream))
    current_app.extensions[CACHE] = (time.monotonic() + CACHE_SECONDS, names)
    return names


def forget() -> None:
    """Ask the upstream again at the next lookup (tests, after a change)."""
    current_app.extensions.pop(CACHE, None)


def _names(source) -> list[str]:
    """The sorted, distinct names ``source()`` gives; [] if it fails."""
    try:
        return sorted({str(name) for name in source() if name})
    except Exception as exc:  # suggestions only: a broken fleet must not break pages
        log.info("no model suggestions: %s", exc)
        return []


def _tags(upstream) -> list[str]:
    """The model names in one upstream's ``/api/tags``."""
    resp = upstream.pool.request(
        "GET",
        upstream.base_path + "/api/tags",
        timeout=TIMEOUT,
        retries=False,
        redirect=False,
        assert_same_host=False,
    )
    if resp.status != 200:
        raise ValueError(f"/api/tags answered {resp.status}")
    return [m.get("name") or m.get("model") for m in json.loads(resp.data)["models"]]


def unmatched(patterns: list[str], names: list[str]) -> list[str]:
    """The patterns no fleet model matches ([] when the fleet is unknown)."""
    if not names:
        return []
    return [p for p in patterns if not any(model_allowed(n, (p,)) for n in names)]
