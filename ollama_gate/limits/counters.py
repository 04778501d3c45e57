"""The quota counters admission reads: in one worker, a dict in memory, seeded from
the database the first time a key and period are seen; with ``REDIS_URL``, one Redis
hash per key and period, shared by every worker and host and changed only by atomic
scripts.

Charges Redis could not take (an outage) are kept in the worker and added when it
answers again, so a few seconds without Redis lose no tokens from the counters.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from .upkeep import MAX_PENDING, Upkeep

log = logging.getLogger("ollama_gate.limits")

Check = tuple[str, int | None, int | None]  # (period, calls quota, tokens quota)


class MemoryCounters:
    """Quota counters of one process (exact when it is the only worker)."""

    def __init__(self, load: Callable[[int, str], tuple[int, int]]):
        self._load = load
        self._counts: dict[tuple[int, str], list[int]] = {}
        self._lock = threading.Lock()

    def admit(self, key_id: int, checks: list[Check]) -> tuple[int, str, int] | None:
        """Count a call in each period unless a quota is spent; else (i, kind, used)."""
        seeds = {
            period: list(self._load(key_id, period))  # read outside the lock
            for period, _, _ in checks
            if (key_id, period) not in self._counts
        }
        with self._lock:
            entries = []
            for period, _, _ in checks:
                entry = self._counts.get((key_id, period))
                if entry is None:  # new, or pruned meanwhile (midnight): from its seed
                    entry = seeds.get(period) or [0, 0]
                    self._counts[(key_id, period)] = entry
                entries.append(entry)
            for i, (entry, (_, calls, tokens)) in enumerate(
                zip(entries, checks, strict=True)
            ):
                if calls is not None and entry[0] >= calls:
                    return i, "calls", entry[0]
                if tokens is not None and entry[1] >= tokens:
                    return i, "tokens", entry[1]
            for entry in entries:
                entry[0] += 1
        return None

    def add(self, items: list[tuple[int, str, int, int]], keep: set[str]) -> None:
        """Add (key id, period, calls, tokens) to seeded counters; drop old periods."""
        with self._lock:
            for key_id, period, calls, tokens in items:
                entry = self._counts.get((key_id, period))
                if (
                    entry is not None
                ):  # else seeded later from the database, which has it
                    entry[0] += calls
                    entry[1] += tokens
            for stale in [k for k in self._counts if k[1] not in keep]:
                del self._counts[stale]

    def current(self, key_id: int, period: str) -> tuple[int, int] | None:
        """Live (calls, tokens), if this process holds them."""
        entry = self._counts.get((key_id, period))
        return (entry[0], entry[1]) if entry else None


_ADMIT = """
for i, k in ipairs(KEYS) do
  if redis.call('EXISTS', k) == 0 then return {-1, i} end
end
for i, k in ipairs(KEYS) do
  local v = redis.call('HMGET', k, 'c', 't')
  local c, t = tonumber(v[1]) or 0, tonumber(v[2]) or 0
  local cq, tq = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  if cq >= 0 and c >= cq then return {i, 1, c} end
  if tq >= 0 and t >= tq then return {i, 2, t} end
end
for _, k in ipairs(KEYS) do redis.call('HINCRBY', k, 'c', 1) end
return {0}
"""
_SEED = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'c', ARGV[1], 't', ARGV[2])
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
"""
_ADD = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'c', ARGV[1])
  redis.call('HINCRBY', KEYS[1], 't', ARGV[2])
end
"""
TTL = {"d": 3 * 86400, "m": 40 * 86400}  # a period's hash outlives the period a little


class RedisCounters:
    """Quota counters in Redis, shared by every worker and host; exact for calls."""

    def __init__(
        self,
        client,
        prefix: str,
        load: Callable[[int, str], tuple[int, int]],
        upkeep: Upkeep,
        errors: tuple[type[Exception], ...],
    ):
        self.client = client
        self.prefix = prefix
        self._load = load
        self._admit = client.register_script(_ADMIT)
        self._seed = client.register_script(_SEED)
        self._add = client.register_script(_ADD)
        self.upkeep = upkeep
        self.errors = errors  # what a Redis that is gone raises
        self.owed: dict[tuple[int, str], list[int]] = {}  # calls, tokens not yet added
        self._lock = threading.Lock()
        upkeep.add(self.settle)

    def _key(self, key_id: int, period: str) -> str:
        return f"{self.prefix}:quota:{key_id}:{period}"

    def seed(self, key_id: int, period: str) -> None:
        """Create a period's counter from the database unless another process did."""
        calls, tokens = self._load(key_id, period)
        self._seed(
            keys=[self._key(key_id, period)], args=[calls, tokens, TTL[period[0]]]
        )

    def admit(self, key_id: int, checks: list[Check]) -> tuple[int, str, int] | None:
        """Count a call in each period unless a quota is spent; else (i, kind, used)."""
        keys = [self._key(key_id, period) for period, _, _ in checks]
        args = []
        for _, calls, tokens in checks:
            args += [-1 if calls is None else calls, -1 if tokens is None else tokens]
        for _attempt in range(3):
            result = self._admit(keys=keys, args=args)
            if result[0] != -1:
                break
            self.seed(key_id, checks[int(result[1]) - 1][0])
        if result[0] in (0, -1):
            return None
        return (
            int(result[0]) - 1,
            "calls" if result[1] == 1 else "tokens",
            int(result[2]),
        )

    def add(self, items: list[tuple[int, str, int, int]], keep: set[str]) -> None:
        """Add (key id, period, calls, tokens) to the counters that exist; what Redis
        cannot take now is kept, and added when it answers (``settle``)."""
        self._owe([((k, p), (c, t)) for k, p, c, t in items])
        self.upkeep.ensure()
        try:
            self.settle()
        except self.errors as exc:
            log.warning("quota charges kept until Redis answers: %s", exc)

    def settle(self) -> None:
        """Add every charge kept so far to Redis (an upkeep task while any is kept)."""
        with self._lock:
            owed, self.owed = self.owed, {}
        if not owed:
            return
        pipe = self.client.pipeline(transaction=False)
        for (key_id, period), (calls, tokens) in owed.items():
            self._add(
                keys=[self._key(key_id, period)], args=[calls, tokens], client=pipe
            )
        try:
            pipe.execute()
        except BaseException:
            self._owe(owed.items())  # all kept again: none was answered
            raise

    def _owe(self, items) -> None:
        """Keep charges of ((key id, period), (calls, tokens)), summed per counter."""
        with self._lock:
            for slot, (calls, tokens) in items:
                entry = self.owed.get(slot)
                if entry is None:
                    if len(self.owed) >= MAX_PENDING:  # the database has them
                        log.error("quota charges dropped: too many kept for Redis")
                        continue
                    entry = self.owed[slot] = [0, 0]
                entry[0] += calls
                entry[1] += tokens

    def current(self, key_id: int, period: str) -> tuple[int, int] | None:
        """Live (calls, tokens) from Redis, if the counter exists."""
        c, t = self.client.hmget(self._key(key_id, period), "c", "t")
        return None if c is None else (int(c), int(t or 0))
