"""Quota counters in Redis, shared by every worker and host: one hash per key and
period, one sorted set of holds (``token:n`` by lease end) per key, changed only by
atomic scripts (the rules are ``counters.py``'s).

Charges and settled holds Redis could not take (an outage) are kept in the worker and
sent when it answers again (an upkeep task), so a few seconds without Redis lose no
tokens from the counters and leave no hold behind.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

from ..shared.upkeep import MAX_PENDING, Upkeep
from .counters import LEASE, Check, Load, Moved, Refusal

log = logging.getLogger("ollama_gate.limits")
TTL = {
    "d": 3 * 86400,
    "w": 10 * 86400,
    "m": 40 * 86400,
}  # a period's hash outlives the period a little

_ADMIT = """
local n = #KEYS - 1
for i = 1, n do
  if redis.call('EXISTS', KEYS[i]) == 0 then return {-1, i} end
end
local hk, now, hold = KEYS[n + 1], tonumber(ARGV[2 * n + 1]), tonumber(ARGV[2 * n + 2])
local held = 0
if hold > 0 then
  redis.call('ZREMRANGEBYSCORE', hk, '-inf', now)
  for _, m in ipairs(redis.call('ZRANGE', hk, 0, -1)) do
    held = held + tonumber(string.match(m, ':(%d+)$'))
  end
end
for i = 1, n do
  local v = redis.call('HMGET', KEYS[i], 'c', 't')
  local c, t = tonumber(v[1]) or 0, tonumber(v[2]) or 0
  local cq, tq = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  if cq >= 0 and c >= cq then return {i, 1, c} end
  if tq >= 0 and t >= tq then return {i, 2, t} end
  if tq >= 0 and held > 0 and t + held + hold > tq then return {i, 3, t + held} end
end
for i = 1, n do redis.call('HINCRBY', KEYS[i], 'c', 1) end
if hold > 0 then
  redis.call('ZADD', hk, now + tonumber(ARGV[2 * n + 4]), ARGV[2 * n + 3])
  redis.call('EXPIRE', hk, ARGV[2 * n + 4])
end
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
  return redis.call('HINCRBY', KEYS[1], 't', ARGV[2])
end
return -1
"""
KINDS = {1: "calls", 2: "tokens", 3: "held"}


class RedisCounters:
    """Quota counters in Redis, shared by every worker and host: one hash per key
    and period, one sorted set of holds (``token:n`` by lease end) per key."""

    def __init__(
        self,
        client,
        prefix: str,
        load: Load,
        upkeep: Upkeep | None = None,
        errors: tuple[type[Exception], ...] = (),
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
        self.unheld: list[tuple[int, str]] = []  # settled holds not yet dropped
        self._lock = threading.Lock()
        if upkeep is not None:
            upkeep.add(self.settle)

    def _key(self, limits_id: int, period: str) -> str:
        return f"{self.prefix}:quota:{limits_id}:{period}"

    def _held_key(self, limits_id: int) -> str:
        return f"{self.prefix}:quota-held:{limits_id}"

    def seed(self, limits_id: int, period: str) -> None:
        """Create a period's counter from the database unless another process did."""
        calls, tokens = self._load(limits_id, period)
        self._seed(
            keys=[self._key(limits_id, period)], args=[calls, tokens, TTL[period[0]]]
        )

    def admit(
        self, limits_id: int, checks: list[Check], hold: int
    ) -> tuple[Refusal | None, str | None]:
        """Count a call (and hold ``hold`` tokens) unless a quota refuses it:
        (None, hold token or None), or (refusal, None)."""
        keys = [self._key(limits_id, period) for period, _, _ in checks]
        keys.append(self._held_key(limits_id))
        token = f"{uuid.uuid4().hex}:{hold}" if hold else ""
        args = []
        for _, calls, tokens in checks:
            args += [-1 if calls is None else calls, -1 if tokens is None else tokens]
        args += [time.time(), hold, token, LEASE]
        for _attempt in range(3):
            result = self._admit(keys=keys, args=args)
            if result[0] != -1:
                break
            self.seed(limits_id, checks[int(result[1]) - 1][0])
        if result[0] in (0, -1):
            return None, (token if hold else None)
        return (int(result[0]) - 1, KINDS[int(result[1])], int(result[2])), None

    def add(
        self,
        items: list[tuple[int, str, int, int]],
        keep: set[str],
        holds: list[tuple[int, str]] = (),
    ) -> list[Moved]:
        """Add (limits id, period, calls, tokens) to the counters that exist and drop
        the settled ``holds`` (limits id, token), in one transaction; what Redis
        cannot take now is kept, and sent when it answers (``settle``). The tokens
        of each counter changed now, before and after (budget notices)."""
        self._owe([((k, p), (c, t)) for k, p, c, t in items], list(holds))
        if self.upkeep is None:
            return self.settle()
        self.upkeep.ensure()
        try:
            return self.settle()
        except self.errors as exc:
            log.warning("quota charges kept until Redis answers: %s", exc)
            return []

    def settle(self) -> list[Moved]:
        """Send every charge and settled hold kept so far (an upkeep task); the
        tokens of each counter changed, before and after (each script's own step,
        so of the workers adding to one counter exactly one sees it cross a
        mark)."""
        with self._lock:
            owed, self.owed = self.owed, {}
            unheld, self.unheld = self.unheld, []
        if not owed and not unheld:
            return []
        pipe = self.client.pipeline(transaction=True)  # MULTI: no half-settled view
        for (limits_id, period), (calls, tokens) in owed.items():
            self._add(
                keys=[self._key(limits_id, period)], args=[calls, tokens], client=pipe
            )
        for limits_id, token in unheld:
            pipe.zrem(self._held_key(limits_id), token)
        try:
            results = pipe.execute()
        except BaseException:
            self._owe(owed.items(), unheld)  # all kept again: MULTI took none
            raise
        return [
            (ref, period, int(after) - tokens, int(after))
            for ((ref, period), (_, tokens)), after in zip(
                owed.items(), results[: len(owed)], strict=True
            )
            if int(after) >= 0
        ]

    def _owe(self, items, holds: list[tuple[int, str]]) -> None:
        """Keep charges ((limits id, period), (calls, tokens)), summed per counter,
        and settled holds."""
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
            room = MAX_PENDING - len(self.unheld)  # past it, a hold ends by its lease
            self.unheld.extend(holds[: max(room, 0)])

    def cancel(self, ref: str, periods: tuple[str, ...], token: str | None) -> None:
        """Undo an admission another level then refused: uncount it, drop its hold."""
        pipe = self.client.pipeline(transaction=True)
        for period in periods:
            self._add(keys=[self._key(ref, period)], args=[-1, 0], client=pipe)
        if token:
            pipe.zrem(self._held_key(ref), token)
        pipe.execute()

    def current(self, limits_id: int, period: str) -> tuple[int, int] | None:
        """Live (calls, tokens) from Redis, if the counter exists."""
        c, t = self.client.hmget(self._key(limits_id, period), "c", "t")
        return None if c is None else (int(c), int(t or 0))
