"""The quota counters: calls and tokens per key and period, and the tokens that calls
in flight hold, in one worker's memory or in Redis.

A counter is kept under a key's ``limits_id`` (one for every rotation of a key). At
admission a call is counted and, when the key has a token quota, holds an estimate of
its tokens (``reserve.tokens_to_hold``) until it is settled: then, in one step, the
hold goes and its real tokens are added, so no moment counts neither. A call is
admitted while the tokens used, those held and its own estimate fit the quota, or
when nothing of the key is held (so a quota below one estimate still allows a call at
a time). A hold is a lease: a worker that dies mid-call frees its holds after
``LEASE`` seconds.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

Check = tuple[str, int | None, int | None]  # (period, calls quota, tokens quota)
# a refusal: (index of the check, "calls" | "tokens" | "held", used (plus held))
Refusal = tuple[int, str, int]
Load = Callable[[int, str], tuple[int, int]]
LEASE = 3600  # seconds a hold outlives its call at most (a worker that died)
TTL = {"d": 3 * 86400, "m": 40 * 86400}  # a period's hash outlives the period a little


def judge(used: list[tuple[int, int]], checks: list[Check], held: int, hold: int):
    """The first quota that refuses a call holding ``hold`` tokens, or None."""
    for i, ((calls, tokens), (_, calls_q, tokens_q)) in enumerate(
        zip(used, checks, strict=True)
    ):
        if calls_q is not None and calls >= calls_q:
            return i, "calls", calls
        if tokens_q is not None and tokens >= tokens_q:
            return i, "tokens", tokens
        if tokens_q is not None and held and tokens + held + hold > tokens_q:
            return i, "held", tokens + held
    return None


class MemoryCounters:
    """Quota counters of one process (exact when it is the only worker)."""

    def __init__(self, load: Load):
        self._load = load
        self._counts: dict[tuple[int, str], list[int]] = {}
        self._held: dict[int, dict[str, tuple[int, float]]] = {}  # token: (n, until)
        self._lock = threading.Lock()

    def admit(
        self, limits_id: int, checks: list[Check], hold: int
    ) -> tuple[Refusal | None, str | None]:
        """Count a call (and hold ``hold`` tokens) unless a quota refuses it:
        (None, hold token or None), or (refusal, None)."""
        seeds = {
            period: list(self._load(limits_id, period))  # read outside the lock
            for period, _, _ in checks
            if (limits_id, period) not in self._counts
        }
        now = time.monotonic()
        with self._lock:
            entries = []
            for period, _, _ in checks:
                entry = self._counts.get((limits_id, period))
                if entry is None:  # new, or pruned meanwhile (midnight): from its seed
                    entry = seeds.get(period) or [0, 0]
                    self._counts[(limits_id, period)] = entry
                entries.append(entry)
            holds = self._held.get(limits_id, {})
            for token in [t for t, (_, until) in holds.items() if until <= now]:
                del holds[token]  # a call that was never settled
            held = sum(n for n, _ in holds.values())
            refused = judge([(e[0], e[1]) for e in entries], checks, held, hold)
            if refused is not None:
                return refused, None
            for entry in entries:
                entry[0] += 1
            if not hold:
                return None, None
            token = uuid.uuid4().hex
            self._held.setdefault(limits_id, {})[token] = (hold, now + LEASE)
        return None, token

    def add(
        self,
        items: list[tuple[int, str, int, int]],
        keep: set[str],
        holds: list[tuple[int, str]] = (),
    ) -> None:
        """Add (limits id, period, calls, tokens) to seeded counters and drop the
        settled ``holds`` (limits id, token), in one step; drop old periods."""
        with self._lock:
            for limits_id, period, calls, tokens in items:
                entry = self._counts.get((limits_id, period))
                if entry is not None:  # else seeded later from the database
                    entry[0] += calls
                    entry[1] += tokens
            for limits_id, token in holds:
                own = self._held.get(limits_id)
                if own is not None:
                    own.pop(token, None)
                    if not own:
                        del self._held[limits_id]
            for stale in [k for k in self._counts if k[1] not in keep]:
                del self._counts[stale]

    def current(self, limits_id: int, period: str) -> tuple[int, int] | None:
        """Live (calls, tokens), if this process holds them."""
        entry = self._counts.get((limits_id, period))
        return (entry[0], entry[1]) if entry else None


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
  redis.call('HINCRBY', KEYS[1], 't', ARGV[2])
end
"""
KINDS = {1: "calls", 2: "tokens", 3: "held"}


class RedisCounters:
    """Quota counters in Redis, shared by every worker and host: one hash per key
    and period, one sorted set of holds (``token:n`` by lease end) per key."""

    def __init__(self, client, prefix: str, load: Load):
        self.client = client
        self.prefix = prefix
        self._load = load
        self._admit = client.register_script(_ADMIT)
        self._seed = client.register_script(_SEED)
        self._add = client.register_script(_ADD)

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
    ) -> None:
        """Add (limits id, period, calls, tokens) to the counters that exist and drop
        the settled ``holds`` (limits id, token), in one transaction."""
        pipe = self.client.pipeline(transaction=True)  # MULTI: no half-settled view
        for limits_id, period, calls, tokens in items:
            self._add(
                keys=[self._key(limits_id, period)], args=[calls, tokens], client=pipe
            )
        for limits_id, token in holds:
            pipe.zrem(self._held_key(limits_id), token)
        pipe.execute()

    def current(self, limits_id: int, period: str) -> tuple[int, int] | None:
        """Live (calls, tokens) from Redis, if the counter exists."""
        c, t = self.client.hmget(self._key(limits_id, period), "c", "t")
        return None if c is None else (int(c), int(t or 0))
