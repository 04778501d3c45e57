"""Readiness: the database answers and at least one backend is healthy.

``backends_ready`` is the one place that asks about backends, for ``/readyz`` and the
metrics' health gauge: the fleet's health checks (``routing/health.py``). Both
checks are cached for
``READY_CACHE_SECONDS``, so a load balancer polling every worker stays cheap.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from ..extensions import db


def backends_ready(app: Flask) -> bool:
    """True when at least one enabled backend passed its last health check."""
    gate = app.extensions["ollama_gate"]
    gate.checker.ensure_fresh()  # under gunicorn the health loop keeps it fresh
    return gate.fleet.any_healthy()


def database_ready(app: Flask) -> bool:
    """True when the database answers a ``SELECT 1``."""
    try:
        with db.engine.connect() as conn:
            conn.execute(sa.select(1))
        return True
    except (SQLAlchemyError, OSError):
        return False


class Cached:
    """A boolean check run at most once per ``ttl`` seconds in this process."""

    def __init__(self, check: Callable[[Flask], bool], ttl: float):
        self.check = check
        self.ttl = ttl
        self._value = False
        self._until = 0.0

    def __call__(self, app: Flask) -> bool:
        """The last result while fresh, else a new one."""
        now = time.monotonic()
        if now >= self._until:
            self._value = self.check(app)
            self._until = time.monotonic() + self.ttl
        return self._value


class Readiness:
    """The per-app cached checks behind ``/readyz`` and the health gauge."""

    def __init__(self, app: Flask):
        ttl = app.config["GATE"]["READY_CACHE_SECONDS"]
        self.database = Cached(database_ready, ttl)
        self.backends = Cached(backends_ready, ttl)


def readiness(app: Flask) -> Readiness:
    """The app's ``Readiness`` (made by ``ops.init_app``)."""
    return app.extensions["ollama_gate_ready"]
