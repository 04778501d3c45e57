"""``/metrics``: Prometheus text for a scraper holding the token or an allowed
address."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from ..ops.ready import readiness
from .exposition import allowed, render
from .registry import BACKENDS_READY

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics():
    """Every worker's metrics, with the backends' health checked (cached) now."""
    settings = current_app.config["GATE"]
    if not allowed(request, settings, current_app.extensions["ollama_gate"].hosts):
        status = 401 if settings["METRICS_TOKEN"] else 403
        return Response(
            "metrics: send the token (Authorization: Bearer) or scrape from an "
            "allowed address\n",
            status=status,
            mimetype="text/plain",
            headers={"WWW-Authenticate": "Bearer"} if status == 401 else {},
        )
    BACKENDS_READY.set(1 if readiness(current_app).backends(current_app) else 0)
    body, content_type = render()
    return Response(body, content_type=content_type)
