"""The worker's one Redis pool, a client on it, and what Redis raises when gone.

Shared by the limiter, the quota counters, the slots, the queue and the cache.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask

if TYPE_CHECKING:
    import redis

REDIS_TIMEOUT = 3.0  # seconds for one Redis connect or reply


def redis_pool(app: Flask) -> redis.BlockingConnectionPool:
    """The worker's one bounded Redis pool, shared by the limiter, quotas and slots.

    Bounded and blocking: a burst of thousands of calls waits briefly for one of
    ``REDIS_MAX_CONNECTIONS`` connections instead of opening one socket per greenlet
    (which ran out of file descriptors and answered 503 under load).
    """
    pool = app.extensions.get("ollama_gate_redis_pool")
    if pool is None:
        import redis  # only with REDIS_URL: about 7 MB of every worker otherwise

        s = app.config["GATE"]
        pool = redis.BlockingConnectionPool.from_url(
            s["REDIS_URL"],
            max_connections=s["REDIS_MAX_CONNECTIONS"],
            timeout=10,
            # a Redis that stops answering (host gone, network cut) must give a 503
            # in seconds, not hold every call for the system's TCP timeout
            socket_connect_timeout=REDIS_TIMEOUT,
            socket_timeout=REDIS_TIMEOUT,
        )
        app.extensions["ollama_gate_redis_pool"] = pool
    return pool


def redis_client(app: Flask) -> redis.Redis:
    """A client on the worker's shared pool (``redis_pool``); with REDIS_URL only."""
    import redis  # imported on use, like the pool's

    return redis.Redis(connection_pool=redis_pool(app))


def redis_errors(app: Flask) -> tuple[type[Exception], ...]:
    """What a limit counter raises when its storage fails: Redis' errors with
    REDIS_URL (Redis is imported only then), and socket errors."""
    if not app.config["GATE"]["REDIS_URL"]:
        return (OSError,)
    import redis

    return (redis.RedisError, OSError)
