"""The fleet's model names, for the key form's allowlist: suggestions and warnings.

One lookup: the routing work's ``Fleet`` when the gate has one, else the one
upstream's ``/api/tags`` with a short timeout. Any failure means no suggestions,
never an error page.
"""

from __future__ import annotations

import json
import logging

import urllib3
from flask import current_app

from ..limits.access import model_allowed

log = logging.getLogger(__name__)
TIMEOUT = urllib3.Timeout(connect=1.0, read=2.0)


def fleet_model_names() -> list[str]:
    """Every model name the fleet serves, sorted; [] when it cannot be asked."""
    gate = current_app.extensions["ollama_gate"]
    try:
        if hasattr(gate, "fleet"):
            names = gate.fleet.model_names()
        else:
            names = _tags(gate.upstream)
        return sorted({str(name) for name in names if name})
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
