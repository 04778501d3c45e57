"""Per-key limits: rate limits, quotas, model access, endpoint scopes and concurrency.

``init_app`` plugs one admission check, one release hook, one recorder hook and one
response filter into the gateway (``Gate``); nothing here runs in the views themselves.
Everything a check needs about the key is on its cached ``Identity``, so the hot
path makes no database query (except once per key and period, to seed the quota
counters).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import redis
from flask import Flask
from limits.errors import StorageError
from sqlalchemy.exc import SQLAlchemyError

from ..errors import ApiError
from ..extensions import limiter
from ..models import ApiKey, utcnow
from ..call import Call
from .access import check_access, filter_model_list
from .concurrency import Concurrency, MemorySlots, RedisSlots
from .quotas import MemoryCounters, Quotas, RedisCounters, usage_loader
from .rates import Rates, redis_pool
from .usage import day_period, load_usage, month_period, period_reset

log = logging.getLogger("ollama_gate.limits")


class Limits:
    """The per-app limit state: rate limiter, quota counters and concurrency slots."""

    def __init__(self, app: Flask):
        s = app.config["GATE"]
        self.shared = bool(s["REDIS_URL"])  # counters shared by every worker and host
        self.redis = (
            redis.Redis(connection_pool=redis_pool(app)) if self.shared else None
        )
        load = usage_loader(app)
        prefix = s["REDIS_PREFIX"]
        self.rates = Rates(limiter.limiter, s["RATE_LIMIT"])
        self.quotas = Quotas(
            RedisCounters(self.redis, prefix, load)
            if self.redis
            else MemoryCounters(load)
        )
        self.concurrency = Concurrency(
            RedisSlots(self.redis, prefix) if self.redis else MemorySlots()
        )

    def admit(self, call: Call) -> None:
        """Admission check: access, concurrency, rate limits, then quotas."""
        check_access(call)  # refusals here spend nothing
        try:
            self.concurrency(call)
            self.rates(call)
            self.quotas(call)  # last: it counts the call
        except (redis.RedisError, StorageError, OSError, SQLAlchemyError) as exc:
            # SQLAlchemyError: the quota seed query (database locked or gone)
            log.error("limit storage failed: %s", exc)
            raise ApiError(
                503,
                "the gateway's limit storage is unavailable; try again",
                {"Retry-After": "5"},
            ) from None

    def report(self, key: ApiKey, now: datetime | None = None) -> list[dict[str, Any]]:
        """Usage against each quota of a key, for the CLI and the admin pages."""
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
                live = self.quotas.counters.current(key.id, period)
            except (redis.RedisError, OSError):
                pass
            calls, tokens = live if live is not None else load_usage(key.id, period)
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


def init_app(app: Flask) -> None:
    """Register the limits on the gateway of ``app`` (after ``proxy.init_app``)."""
    from ..proxy.views import bp

    gate = app.extensions["ollama_gate"]
    state = Limits(app)
    app.extensions["ollama_gate_limits"] = state
    gate.admission_checks.append(state.admit)
    gate.release_hooks.append(state.concurrency.release)
    gate.recorder.add_hook(state.quotas.record)
    gate.response_filters.append(filter_model_list)
    limiter.exempt(bp)  # the proxy's limits are per key, applied above, not per route
    from .admin import init_app as init_admin_helpers

    init_admin_helpers(app)  # ``key_limits`` for the admin key page
