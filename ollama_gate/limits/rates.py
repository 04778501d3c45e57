"""Per-key rate limits on the storage and strategy of the app's Flask-Limiter.

Every API call of a key hits each of its limits (the key's own, else ``RATE_LIMIT``)
with one atomic storage operation: a memory lock in one worker, one Redis command or
script across workers and hosts. The moving window (the default strategy) lets
exactly N calls through in any window, bursts included.
"""

from __future__ import annotations

import math
import time
from functools import lru_cache

from flask import Flask
from limits import RateLimitItem, parse_many
from limits.strategies import RateLimiter

from ..call import Call
from ..errors import ApiError
from ..shared.redis_pool import redis_pool

# a subject's own value meaning "no rate limit", and the check of its text
from ..subject_rows.limit_rows import UNLIMITED, check_rate_limit_spec
from ..subjects import levels_of
from .memory import SweptMemoryStorage

MEMORY_URI = SweptMemoryStorage.STORAGE_SCHEME[0] + "://"  # one worker's own counters

__all__ = ["UNLIMITED", "Rates", "check_rate_limit_spec", "parse_limits"]


def limiter_settings(app: Flask) -> None:
    """Point Flask-Limiter at Redis (or memory) and the strategy; before init."""
    s = app.config["GATE"]
    app.config.setdefault("RATELIMIT_STORAGE_URI", s["REDIS_URL"] or MEMORY_URI)
    app.config.setdefault("RATELIMIT_STRATEGY", s["RATE_LIMIT_STRATEGY"])
    if s["REDIS_URL"]:
        app.config.setdefault(
            "RATELIMIT_STORAGE_OPTIONS",
            {"key_prefix": s["REDIS_PREFIX"], "connection_pool": redis_pool(app)},
        )


@lru_cache(maxsize=1024)
def parse_limits(spec: str) -> tuple[RateLimitItem, ...]:
    """A spec's limits, shortest window first (a refusal spends no longer window)."""
    if not spec or spec.strip().lower() in UNLIMITED:
        return ()
    return tuple(sorted(parse_many(spec), key=lambda item: item.get_expiry()))


class Rates:
    """The admission check that applies each key's rate limits."""

    def __init__(self, strategy: RateLimiter, default: str):
        self.strategy = strategy  # this app's instance: the Limiter object is shared
        self.default = default

    def limits_for(self, call: Call) -> tuple[RateLimitItem, ...]:
        """The limits of the call's key (its own, else the default)."""
        own = call.identity.rate_limit
        return parse_limits(self.default if own is None else own)

    def __call__(self, call: Call) -> None:
        """Count the call against each limit of each level of its chain (a key that
        sets none: the default); 429 naming the level if over."""
        for level in levels_of(call):
            own = level.get("rate_limit")
            if own is None and level.subject.kind == "key":
                own = self.default
            if not own:
                continue
            ref = level.subject.ref  # a key's: shared by a rotated key's secrets
            for item in parse_limits(own):
                if not self.strategy.hit(item, "key", ref):
                    raise self.refusal(item, ref, level.subject)

    def refusal(self, item: RateLimitItem, key: str, subject=None) -> ApiError:
        """The 429 for a level over ``item``: says which limit, and when to retry."""
        reset, remaining = self.strategy.get_window_stats(item, "key", key)
        now = time.time()
        wait = max(1, math.ceil(reset - now))
        headers = {
            "Retry-After": str(wait),
            "X-RateLimit-Limit": str(item.amount),
            "X-RateLimit-Remaining": str(max(0, remaining)),
            "X-RateLimit-Reset": str(math.ceil(reset)),
        }
        if (
            wait > 60
        ):  # clients that retry on 429 (openai's SDK) would only be refused again
            headers["x-should-retry"] = "false"
        who = subject.phrase if subject is not None else "this API key"
        return ApiError(
            429,
            f"rate limit of {item} for {who} exceeded; retry in {wait} s",
            headers,
        )
