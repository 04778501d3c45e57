"""Per-key concurrency cap: at most N calls of a key in flight at once.

A slot is taken at admission and given back by a release hook the moment the call ends
(last byte, client gone, or refusal). In one worker the slots are a dict in memory;
with ``REDIS_URL`` they are one sorted set per key, so the cap holds across workers
and hosts.
A Redis slot is a lease: a worker that dies mid-call frees its slots after ``LEASE``
seconds.
"""

from __future__ import annotations

import threading
import time
import uuid

from ..call import Call
from ..errors import ApiError

SLOT = "limits.slot"  # call.extra: the slot this call holds
LEASE = 3600  # seconds; longer than any sane generation


class MemorySlots:
    """In-flight calls per key, in this process."""

    def __init__(self):
        self._in_flight: dict[int, int] = {}
        self._lock = threading.Lock()

    def acquire(self, key_id: int, limit: int) -> str | None:
        """A slot token, or None when the key already has ``limit`` calls in flight."""
        with self._lock:
            n = self._in_flight.get(key_id, 0)
            if n >= limit:
                return None
            self._in_flight[key_id] = n + 1
        return "m"

    def release(self, key_id: int, token: str) -> None:
        """Give a slot back."""
        with self._lock:
            n = self._in_flight.get(key_id, 0) - 1
            if n > 0:
                self._in_flight[key_id] = n
            else:
                self._in_flight.pop(key_id, None)

    def in_flight(self, key_id: int) -> int:
        """Calls of the key in flight now."""
        return self._in_flight.get(key_id, 0)


_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1] - ARGV[3])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""


class RedisSlots:
    """In-flight calls per key in Redis: a sorted set of leases."""

    def __init__(self, client, prefix: str):
        self.client = client
        self.prefix = prefix
        self._acquire = client.register_script(_ACQUIRE)

    def _key(self, key_id: int) -> str:
        return f"{self.prefix}:inflight:{key_id}"

    def acquire(self, key_id: int, limit: int) -> str | None:
        """A slot token, or None when the key already has ``limit`` calls in flight."""
        token = uuid.uuid4().hex
        ok = self._acquire(
            keys=[self._key(key_id)], args=[time.time(), limit, LEASE, token]
        )
        return token if ok else None

    def release(self, key_id: int, token: str) -> None:
        """Give a slot back."""
        self.client.zrem(self._key(key_id), token)

    def in_flight(self, key_id: int) -> int:
        """Calls of the key in flight now (leases not yet expired)."""
        return int(self.client.zcount(self._key(key_id), time.time() - LEASE, "+inf"))


class Concurrency:
    """The admission check and release hook of the per-key cap."""

    def __init__(self, slots):
        self.slots = slots

    def __call__(self, call: Call) -> None:
        """Admission check: take a slot, or 429 when the key is at its cap."""
        limit = call.identity.max_concurrency
        if limit is None:
            return
        token = self.slots.acquire(call.identity.limits_id, limit)
        if token is None:
            raise ApiError(
                429,
                f"this API key already has {limit} calls in flight "
                f"(its limit); retry when one ends",
                {
                    "Retry-After": "1",
                    "X-RateLimit-Limit": str(limit),
                    "X-RateLimit-Remaining": "0",
                },
            )
        call.extra[SLOT] = token

    def release(self, call: Call) -> None:
        """Release hook: give the call's slot back as soon as it ends."""
        token = call.extra.pop(SLOT, None)
        if token is not None:
            self.slots.release(call.identity.limits_id, token)
