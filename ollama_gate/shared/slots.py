"""Counted slots: at most N of something (a key's calls, a backend's, a model's) at
once, counted in this worker's memory or, with ``REDIS_URL``, in Redis for every
worker and host.

A Redis slot is a lease of ``SLOT_LEASE_SECONDS``: the worker running the call renews
it (``upkeep.py``), so a worker that dies mid-call frees its slots within one lease.
A slot given back while Redis is gone is given back again each second until Redis
answers; meanwhile its lease is no longer renewed, so it ends within a lease anyway.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid

from flask import Flask

from .redis_pool import redis_client, redis_errors
from .upkeep import MAX_PENDING, Upkeep, upkeep_of

log = logging.getLogger("ollama_gate.limits")  # the name it logged under in limits


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
# only leases still there: one that ended (given back, or expired in an outage longer
# than a lease) is not brought back
_RENEW = """
for i = 3, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    redis.call('ZADD', KEYS[1], ARGV[1], ARGV[i])
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
"""


class RedisSlots:
    """In-flight calls per key in Redis: a sorted set of leases, renewed by the
    worker that holds them, given back again until Redis takes them."""

    def __init__(self, client, prefix: str, lease: float, upkeep: Upkeep, errors):
        self.client = client
        self.prefix = prefix
        self.lease = math.ceil(lease)  # whole seconds: Redis' EXPIRE takes no less
        self.errors = errors  # what a Redis that is gone raises
        self.upkeep = upkeep
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self.held: dict[str, set[str]] = {}  # this worker's leases, by Redis key
        self.unreleased: dict[str, set[str]] = {}  # given back, not yet in Redis
        self.pending = 0  # tokens in ``unreleased``
        self._lock = threading.Lock()
        self.renewed = 0.0
        upkeep.add(self.tend, tick=min(1.0, lease / 4))

    def _key(self, key_id) -> str:
        return f"{self.prefix}:inflight:{key_id}"

    def acquire(self, key_id, limit: int) -> str | None:
        """A slot token, or None when the key already has ``limit`` calls in flight."""
        self.upkeep.ensure()
        key, token = self._key(key_id), uuid.uuid4().hex
        ok = self._acquire(keys=[key], args=[time.time(), limit, self.lease, token])
        if not ok:
            return None
        with self._lock:
            self.held.setdefault(key, set()).add(token)
        return token

    def release(self, key_id, token: str) -> None:
        """Give a slot back; while Redis is gone, again each tick until it lands."""
        key = self._key(key_id)
        with self._lock:
            _discard(self.held, key, token)
        try:
            self.client.zrem(key, token)
        except self.errors as exc:
            with self._lock:
                first = not self.unreleased
                if self.pending >= MAX_PENDING:  # its lease, no longer renewed, ends it
                    return
                self.unreleased.setdefault(key, set()).add(token)
                self.pending += 1
            if first:
                log.warning("slots kept to give back when Redis answers: %s", exc)

    def redis_key(self, key_id) -> str:
        """The sorted set of ``key_id``'s leases (the cluster queue's scripts take
        slots in it themselves)."""
        return self._key(key_id)

    def hold(self, key_id, token: str) -> None:
        """Renew ``token``'s lease from now on: a slot taken by another script."""
        self.upkeep.ensure()
        with self._lock:
            self.held.setdefault(self._key(key_id), set()).add(token)

    def drop(self, key_id, token: str) -> None:
        """Stop renewing ``token``'s lease (its slot was given back by a script)."""
        with self._lock:
            _discard(self.held, self._key(key_id), token)

    def in_flight(self, key_id) -> int:
        """Calls of the key in flight now (leases not yet expired)."""
        since = time.time() - self.lease
        return int(self.client.zcount(self._key(key_id), since, "+inf"))

    def tend(self) -> None:
        """Give back the slots an outage kept; renew this worker's leases when due."""
        with self._lock:
            owed = {k: set(v) for k, v in self.unreleased.items()}
        if owed:
            pipe = self.client.pipeline(transaction=False)
            for key, tokens in owed.items():
                pipe.zrem(key, *tokens)
            pipe.execute()
            with self._lock:
                for key, tokens in owed.items():
                    for token in tokens:
                        _discard(self.unreleased, key, token)
                self.pending = sum(map(len, self.unreleased.values()))
            log.info("slots kept through a Redis outage are given back")
        now = time.time()
        if now - self.renewed < self.lease / 4:
            return
        with self._lock:
            held = [(k, list(v)) for k, v in self.held.items()]
        pipe = self.client.pipeline(transaction=False)
        for key, tokens in held:
            self._renew(keys=[key], args=[now, self.lease, *tokens], client=pipe)
        pipe.execute()
        self.renewed = now


def _discard(sets: dict[str, set[str]], key: str, token: str) -> None:
    """Remove ``token`` from ``sets[key]``, and the key once it holds none."""
    tokens = sets.get(key)
    if tokens is not None:
        tokens.discard(token)
        if not tokens:
            del sets[key]


def counted_slots(app: Flask, name: str | None = None):
    """Counted slots shared by every worker (Redis) or of this worker (memory);
    ``name`` keeps one kind's counts apart (``backend``, ``model``)."""
    s = app.config["GATE"]
    if not s["REDIS_URL"]:
        return MemorySlots()
    prefix = s["REDIS_PREFIX"] + (f":{name}" if name else "")
    return RedisSlots(
        redis_client(app),
        prefix,
        s["SLOT_LEASE_SECONDS"],
        upkeep_of(app),
        redis_errors(app),
    )
