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
from .memory import SweptMemoryStorage

MEMORY_URI = SweptMemoryStorage.STORAGE_SCHEME[0] + "://"  # one worker's own counters

UNLIMITED = ("unlimited", "none", "off")  # a key's own value meaning "no rate limit"


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


def check_rate_limit_spec(spec: str) -> str:
    """Check a key's own limit (Flask-Limiter syntax or ``unlimited``); ValueError."""
    v = spec.strip()
    if v.lower() in UNLIMITED:
        return "unlimited"
    try:
        parse_many(v)
    except ValueError:
        raise ValueError(
            f"not a rate limit (e.g. 60/minute or 10/second;500/hour): {spec!r}"
        ) from None
    return v


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
        """The limits that apply to the call's key."""
        own = call.identity.rate_limit
        return parse_limits(self.default if own is None else own)

    def __call__(self, call: Call) -> None:
        """Count the call against each limit of its key; 429 with the state if over."""
        key = str(call.identity.limits_id)  # shared by a rotated key's secrets
        for item in self.limits_for(call):
            if not self.strategy.hit(item, "key", key):
                raise self.refusal(item, key)

    def refusal(self, item: RateLimitItem, key: str) -> ApiError:
        """The 429 for a key over ``item``: says which limit, and when to retry."""
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
        return ApiError(
            429,
            f"rate limit of {item} for this API key exceeded; retry in {wait} s",
            headers,
        )
