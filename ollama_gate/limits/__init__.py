"""Per-key limits: rate limits, quotas, model access, endpoint scopes and concurrency.

``stage`` is the limits' stage of the pipeline (admit, filter, release, record);
nothing here runs in the views themselves.
Everything a check needs about the key is on its cached ``Identity``, so the hot
path makes no database query (except once per key and period, to seed the quota
counters).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask import Flask
from limits.errors import StorageError
from sqlalchemy.exc import SQLAlchemyError

from ..call import Call
from ..errors import ApiError
from ..extensions import limiter
from ..models import ApiKey, utcnow
from ..pipeline import Stage
from ..shared.redis_pool import redis_client, redis_errors
from ..shared.slots import counted_slots
from ..shared.upkeep import upkeep_of
from .access import check_access, filter_model_list
from .admin import init_app as init_admin_helpers
from .concurrency import Concurrency
from .counters import MemoryCounters
from .quotas import Quotas, usage_loader
from .rates import Rates
from .redis_counters import RedisCounters
from .usage import day_period, load_usage, month_period, period_reset

log = logging.getLogger("ollama_gate.limits")


class Limits(Stage):
    """The per-app limit state (rate limiter, quota counters, concurrency slots) and
    its steps on the path of every call."""

    name = "limits"

    def __init__(self, app: Flask):
        s = app.config["GATE"]
        self.shared = bool(s["REDIS_URL"])  # counters shared by every worker and host
        self.redis = redis_client(app) if self.shared else None
        # Redis' errors (OSError alone without Redis, which is then never imported)
        self.counter_errors = redis_errors(app)
        self.storage_errors = (*self.counter_errors, StorageError, SQLAlchemyError)
        load = usage_loader(app)
        prefix = s["REDIS_PREFIX"]
        self.rates = Rates(limiter.limiter, s["RATE_LIMIT"])
        self.quotas = Quotas(
            RedisCounters(self.redis, prefix, load, upkeep_of(app), self.counter_errors)
            if self.redis
            else MemoryCounters(load),
            s["TOKEN_RESERVE"],
        )
        self.concurrency = Concurrency(counted_slots(app))

    def admit(self, call: Call) -> None:
        """Access, concurrency, rate limits, then quotas (raise ``ApiError``)."""
        check_access(call)  # refusals here spend nothing
        try:
            self.concurrency(call)
            self.rates(call)
            self.quotas(call)  # last: it counts the call
        except self.storage_errors as exc:
            # SQLAlchemyError: the quota seed query (database locked or gone)
            log.error("limit storage failed: %s", exc)
            raise ApiError(
                503,
                "the gateway's limit storage is unavailable; try again",
                {"Retry-After": "5"},
            ) from None

    def filter(self, call: Call, body: bytes) -> bytes:
        """Model lists (tags, ps, /v1/models) cut to the key's allowlist."""
        return filter_model_list(call, body)

    def release(self, call: Call) -> None:
        """Give the call's concurrency slot back as soon as it ends."""
        self.concurrency.release(call)

    def record(self, calls: list[Call]) -> None:
        """Add the finished calls and their tokens to the quota counters."""
        self.quotas.record(calls)

    def report(self, key: ApiKey, now: datetime | None = None) -> list[dict[str, Any]]:
        """Usage against each quota of a key, for the CLI and the admin pages."""
        return self.report_ref(str(key.limits_id), key, now)

    def report_ref(
        self, ref: str, subject: Any, now: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Usage of the subject counted under ``ref`` (``Subject.ref``: a key's,
        ``user:ID``, ``team:ID``: one pool for all its members' keys) against the
        quotas ``subject`` (a key, user or team row) sets."""
        key = subject
        now = now or utcnow()
        rows = []
        for label, period, calls_q, tokens_q in (
            ("today", day_period(now), key.calls_per_day, key.tokens_per_day),
            (
                "this month",
                month_period(now),
                key.calls_per_month,
                key.tokens_per_month,
            ),
        ):
            live = None
            try:
                live = self.quotas.counters.current(ref, period)
            except self.counter_errors:
                pass
            if live is None:
                live = load_usage(ref, period)
            calls, tokens = live
            rows.append(
                {
                    "label": label,
                    "period": period,
                    "calls": calls,
                    "tokens": tokens,
                    "calls_quota": calls_q,
                    "tokens_quota": tokens_q,
                    "resets": period_reset(period),
                }
            )
        return rows


def stage(app: Flask) -> Limits:
    """The limits' stage for ``app``'s pipeline, kept for the admin pages too."""
    state = Limits(app)
    app.extensions["ollama_gate_limits"] = state
    return state


def init_app(app: Flask) -> None:
    """The limits' admin helpers (``key_limits`` for the key page)."""
    init_admin_helpers(app)
