"""``/healthz`` and ``/readyz``: answered without a key, cheap enough to poll."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from .ready import readiness

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz():
    """The process is up and serving (no database, no backend asked)."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """200 when the database answers and at least one backend is healthy, else 503."""
    ready = readiness(current_app)
    database = ready.database(current_app)
    backends = ready.backends(current_app)
    body = {
        "status": "ok" if database and backends else "unavailable",
        "database": "ok" if database else "unreachable",
        "backends": "ok" if backends else "none healthy",
    }
    return jsonify(body), 200 if database and backends else 503
