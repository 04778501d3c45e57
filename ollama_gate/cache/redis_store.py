"""Cached answers in Redis, shared by every worker and host, with the same bounds.

Each answer is a string key with its TTL; a sorted set orders the entries by the time
they were cached and a hash keeps their sizes, so one script can cache an entry and
evict the expired and then the oldest, atomically, whichever worker runs it.
"""

from __future__ import annotations

import time

import redis
from flask import Flask

from ..shared.redis_pool import redis_pool
from .store import Entry

_PUT = """
local order, sizes, stats = KEYS[1], KEYS[2], KEYS[3]
local prefix, id, blob = ARGV[1], ARGV[2], ARGV[3]
local now, ttl = tonumber(ARGV[4]), tonumber(ARGV[5])
local max_n, max_b = tonumber(ARGV[6]), tonumber(ARGV[7])
local function drop(victim)
  local size = redis.call('HGET', sizes, victim)
  if size then redis.call('HINCRBY', stats, 'bytes', -tonumber(size)) end
  redis.call('HDEL', sizes, victim)
  redis.call('ZREM', order, victim)
  redis.call('DEL', prefix .. victim)
end
drop(id)
redis.call('SET', prefix .. id, blob, 'PX', math.floor(ttl * 1000))
redis.call('ZADD', order, now, id)
redis.call('HSET', sizes, id, #blob)
redis.call('HINCRBY', stats, 'bytes', #blob)
for _, victim in ipairs(redis.call('ZRANGEBYSCORE', order, '-inf', now - ttl)) do
  drop(victim)
end
while redis.call('ZCARD', order) > max_n
    or tonumber(redis.call('HGET', stats, 'bytes') or '0') > max_b do
  local oldest = redis.call('ZRANGE', order, 0, 0)
  if #oldest == 0 then break end
  drop(oldest[1])
end
"""
_EXPIRE = """
local order, sizes, stats = KEYS[1], KEYS[2], KEYS[3]
local prefix, cutoff = ARGV[1], tonumber(ARGV[2])
for _, victim in ipairs(redis.call('ZRANGEBYSCORE', order, '-inf', cutoff)) do
  local size = redis.call('HGET', sizes, victim)
  if size then redis.call('HINCRBY', stats, 'bytes', -tonumber(size)) end
  redis.call('HDEL', sizes, victim)
  redis.call('ZREM', order, victim)
  redis.call('DEL', prefix .. victim)
end
return {redis.call('ZCARD', order), redis.call('HGET', stats, 'bytes') or '0'}
"""
_CLEAR = """
local order, sizes, stats = KEYS[1], KEYS[2], KEYS[3]
local ids = redis.call('ZRANGE', order, 0, -1)
for _, id in ipairs(ids) do redis.call('DEL', ARGV[1] .. id) end
redis.call('DEL', order, sizes, stats)
return #ids
"""


class RedisStore:
    """Cached answers in Redis under ``<REDIS_PREFIX>:cache:``."""

    kind = "redis"

    def __init__(self, app: Flask, ttl: float, max_bytes: int, max_entries: int):
        self.client = redis.Redis(connection_pool=redis_pool(app))
        base = app.config["GATE"]["REDIS_PREFIX"] + ":cache:"
        self.entry_prefix = base + "e:"
        self.keys = [base + "order", base + "sizes", base + "stats"]
        self.ttl = ttl
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._put = self.client.register_script(_PUT)
        self._expire = self.client.register_script(_EXPIRE)
        self._clear = self.client.register_script(_CLEAR)

    def get(self, key: str) -> bytes | None:
        """The body cached under ``key`` (Redis drops it when its TTL ends)."""
        return self.client.get(self.entry_prefix + key)

    def put(self, entries: list[Entry]) -> None:
        """Cache ``entries``, evicting the expired and then the oldest past a bound."""
        pipe = self.client.pipeline(transaction=False)
        now = time.time()
        for e in entries:
            args = [self.entry_prefix, e.key, e.body, now, self.ttl]
            args += [self.max_entries, self.max_bytes]
            self._put(keys=self.keys, args=args, client=pipe)
        pipe.execute()

    def count(self, hits: int, misses: int) -> None:
        """Add to the hit and miss counters."""
        pipe = self.client.pipeline(transaction=False)
        pipe.hincrby(self.keys[2], "hits", hits)
        pipe.hincrby(self.keys[2], "misses", misses)
        pipe.execute()

    def stats(self) -> dict[str, int]:
        """Entries and bytes cached now, hits and misses since the last clear."""
        cutoff = time.time() - self.ttl
        entries, size = self._expire(keys=self.keys, args=[self.entry_prefix, cutoff])
        hits, misses = self.client.hmget(self.keys[2], "hits", "misses")
        return {
            "entries": int(entries),
            "bytes": int(size),
            "hits": int(hits or 0),
            "misses": int(misses or 0),
        }

    def clear(self) -> int:
        """Forget every entry and the counters; return how many entries went."""
        return int(self._clear(keys=self.keys, args=[self.entry_prefix]))
