"""The fleet's model names, for the key form's allowlist: suggestions and warnings.

One lookup: the routing package's ``Fleet``, whose health checks read every backend's
``/api/tags`` (in the background under gunicorn; on demand here otherwise). Any
failure means no suggestions, never an error page.
"""

from __future__ import annotations

import logging

from flask import current_app

from ..limits.access import model_allowed

log = logging.getLogger(__name__)


def fleet_model_names() -> list[str]:
    """Every model name the fleet serves (aliases included), sorted; [] when it
    cannot be known."""
    gate = current_app.extensions["ollama_gate"]
    try:
        gate.checker.ensure_fresh()
        return gate.fleet.model_names()
    except Exception as exc:  # suggestions only: a broken fleet must not break pages
        log.info("no model suggestions: %s", exc)
        return []


def unmatched(patterns: list[str], names: list[str]) -> list[str]:
    """The patterns no fleet model matches ([] when the fleet is unknown)."""
    if not names:
        return []
    return [p for p in patterns if not any(model_allowed(n, (p,)) for n in names)]
