"""History queries a key holder runs, kept from stalling everyone else.

A worst-case search (``q`` over one's own large rows) took 4.3 s, and under gevent
SQLite runs on the event loop: every stream waited. So the key holder's queries run
in a thread (SQLite and psycopg release the GIL while the database works, and the
loop keeps serving), within a time budget past which they are stopped and answered
with a clear 503 that says how to narrow them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from flask import Flask
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from ..errors import ApiError
from ..extensions import db
from ..offload import off_loop

BUDGET_SECONDS = 2.0  # at most this long for one history query of a key holder
CHECK_EVERY = 10_000  # SQLite virtual machine steps between looks at the clock


class TooSlow(Exception):
    """The query ran past its budget and was stopped."""


def within_budget(app: Flask, work: Callable[[], Any], seconds: float | None = None):
    """``work()`` in a thread with its own app context, stopped past ``seconds``."""
    budget = BUDGET_SECONDS if seconds is None else seconds

    def run():
        with app.app_context():
            try:
                return _bounded(work, budget)
            finally:
                db.session.remove()

    try:
        return off_loop(run)
    except TooSlow:
        raise ApiError(
            503,
            f"this history search took longer than {budget:g} s and was stopped; "
            "narrow it (since, until, model) or search fewer words",
            {"Retry-After": "5"},
        ) from None


def _bounded(work: Callable[[], Any], budget: float):
    """Run ``work`` with the database told to stop it after ``budget`` seconds."""
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        raw = connection.connection.dbapi_connection
        deadline = time.monotonic() + budget
        raw.set_progress_handler(lambda: time.monotonic() > deadline, CHECK_EVERY)
        try:
            return work()
        except OperationalError as exc:
            if "interrupted" in str(exc):
                raise TooSlow() from None
            raise
        finally:
            raw.set_progress_handler(None, 0)
    if connection.dialect.name == "postgresql":
        # a setting for this transaction only; there is no SQLAlchemy construct for it
        milliseconds = max(1, int(budget * 1000))
        db.session.execute(text(f"SET LOCAL statement_timeout = {milliseconds}"))
        try:
            return work()
        except OperationalError as exc:
            if "statement timeout" in str(exc):
                raise TooSlow() from None
            raise
    return work()
