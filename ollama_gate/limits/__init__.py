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
from ..models import ApiKey
from ..pipeline import Stage
from ..shared.redis_pool import redis_client, redis_errors
from ..shared.slots import counted_slots
from ..shared.upkeep import upkeep_of
from .access import check_access, filter_model_list
from .admin import init_app as init_admin_helpers
from .concurrency import Concurrency
from .counters import MemoryCounters
from .periods import local_reset, parse_timezone, reset_text
from .quotas import Quotas, usage_loader
from .rates import Rates
from .redis_counters import RedisCounters
from .usage import load_usage

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
        try:  # an override (tests, embedding) is checked as the variable is
            s["TIMEZONE"] = parse_timezone(str(s.get("TIMEZONE") or "UTC"))
        except ValueError as exc:
            raise RuntimeError(f"OLLAMA_GATE_TIMEZONE: {exc}") from None
        self.rates = Rates(limiter.limiter, s["RATE_LIMIT"])
        self.quotas = Quotas(
            RedisCounters(self.redis, prefix, load, upkeep_of(app), self.counter_errors)
            if self.redis
            else MemoryCounters(load),
            s["TOKEN_RESERVE"],
            zone=s["TIMEZONE"],
            warn=s.get("BUDGET_WARN_PERCENT", 80),
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
        """Usage against each quota and budget of a key, for the CLI and pages."""
        return self.usage_report(str(key.limits_id), key, now)

    def usage_report(
        self, ref: str, subject: Any, now: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Used / quota / budget / reset per period (today, this week, this month)
        of the subject whose counters are kept under ``ref`` (``Subject.ref``)."""
        periods = self.quotas.periods(now)
        rows = []
        for label, kind, calls_q, tokens_q in (
            ("today", "d", subject.calls_per_day, subject.tokens_per_day),
            ("this week", "w", None, subject.tokens_per_week),
            ("this month", "m", subject.calls_per_month, subject.tokens_per_month),
        ):
            period = periods[kind]
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
                    "resets": local_reset(period),  # aware, in the time zone
                    "resets_text": reset_text(period),  # 2026-12-14 00:00 Europe/Paris
                    "shadow": bool(getattr(subject, "budget_shadow", None)),
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
