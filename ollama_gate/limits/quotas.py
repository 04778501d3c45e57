"""Per-key quotas: calls and tokens per UTC day and month.

A call is counted when it is admitted (so N concurrent calls against a quota of N
calls let exactly N through); its tokens (prompt plus completion, from Ollama's final
statistics, ``/v1`` or Anthropic usage) are added after its last byte by the recorder
hook. A token quota is checked before each call, so the call that crosses it still
completes.

Counters: in one worker, a dict in memory, seeded from the database the first time a
key and period are seen; with ``REDIS_URL``, one Redis hash per key and period, shared
by every worker and host and changed only by atomic scripts. The database row is the
durable copy.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from datetime import datetime

from ..call import Call
from ..errors import ApiError
from ..extensions import db
from ..models import utcnow
from .access import _normal_path
from .usage import add_usage, day_period, load_usage, month_period, period_reset

# Endpoints that run a model: their calls and tokens count against quotas.
INFERENCE = frozenset(
    {
        "/api/generate",
        "/api/chat",
        "/api/embed",
        "/api/embeddings",
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/responses",
        "/v1/messages",
    }
)
USAGE = "limits.usage"  # call.extra: admitted inference call, to be counted
COUNTED = (
    "limits.counted"  # call.extra: periods whose call counter admission already raised
)
# call.extra: the call ran no model (a cache hit the settings do not charge): it
# counts as a call, its tokens count against no token quota
UNCHARGED_TOKENS = "limits.uncharged_tokens"
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
        self, client, prefix: str, load: Callable[[int, str], tuple[int, int]]
    ):
        self.client = client
        self.prefix = prefix
        self._load = load
        self._admit = client.register_script(_ADMIT)
        self._seed = client.register_script(_SEED)
        self._add = client.register_script(_ADD)

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
        """Add (key id, period, calls, tokens) to the counters that exist."""
        pipe = self.client.pipeline(transaction=False)
        for key_id, period, calls, tokens in items:
            self._add(
                keys=[self._key(key_id, period)], args=[calls, tokens], client=pipe
            )
        pipe.execute()

    def current(self, key_id: int, period: str) -> tuple[int, int] | None:
        """Live (calls, tokens) from Redis, if the counter exists."""
        c, t = self.client.hmget(self._key(key_id, period), "c", "t")
        return None if c is None else (int(c), int(t or 0))


def checks_for(identity, when: datetime) -> list[Check]:
    """The quotas of a key that apply at ``when``: one check per period with a quota."""
    checks = []
    if identity.calls_per_day is not None or identity.tokens_per_day is not None:
        checks.append(
            (day_period(when), identity.calls_per_day, identity.tokens_per_day)
        )
    if identity.calls_per_month is not None or identity.tokens_per_month is not None:
        checks.append(
            (month_period(when), identity.calls_per_month, identity.tokens_per_month)
        )
    return checks


class Quotas:
    """The quota admission check and the recorder hook that feeds it."""

    def __init__(self, counters):
        self.counters = counters

    def __call__(self, call: Call) -> None:
        """Admission check: count an inference call, or 429 if a quota is used up."""
        # "/api/generate/" is forwarded as sent: a server or proxy there may treat it
        # as "/api/generate", so it is counted as one (the exact match stays first)
        endpoint = call.endpoint
        if endpoint not in INFERENCE and _normal_path(endpoint) not in INFERENCE:
            return
        checks = checks_for(call.identity, call.started_at)
        if checks:
            refused = self.counters.admit(call.identity.key_id, checks)
            if refused is not None:
                raise refusal(checks[refused[0]], refused[1], refused[2])
            call.extra[COUNTED] = tuple(period for period, _, _ in checks)
        call.extra[USAGE] = True

    def record(self, calls: list[Call]) -> None:
        """Recorder hook: add finished calls and their tokens to the counters."""
        totals: dict[tuple[int, str], tuple[int, int]] = {}
        uncounted: dict[tuple[int, str], int] = {}
        for call in calls:
            if not call.extra.get(USAGE):
                continue
            tokens = (
                0
                if call.extra.get(UNCHARGED_TOKENS)
                else int(call.stats.get("total_tokens") or 0)
            )
            counted = call.extra.get(COUNTED, ())
            for period in (day_period(call.started_at), month_period(call.started_at)):
                slot = (call.identity.key_id, period)
                calls_so_far, tokens_so_far = totals.get(slot, (0, 0))
                totals[slot] = (calls_so_far + 1, tokens_so_far + tokens)
                uncounted[slot] = uncounted.get(slot, 0) + (period not in counted)
        if not totals:
            return
        add_usage(totals)
        now = utcnow()
        self.counters.add(
            [(k, p, uncounted[(k, p)], t) for (k, p), (_, t) in totals.items()],
            keep={day_period(now), month_period(now)},
        )


NAMES = {
    ("d", "calls"): "daily call",
    ("d", "tokens"): "daily token",
    ("m", "calls"): "monthly call",
    ("m", "tokens"): "monthly token",
}


def refusal(check: Check, kind: str, used: int) -> ApiError:
    """The 429 for a used-up quota: which one, how much is used, when it resets."""
    period, calls, tokens = check
    quota = calls if kind == "calls" else tokens
    reset = period_reset(period)
    wait = max(1, math.ceil((reset - utcnow()).total_seconds()))
    epoch = math.ceil((reset - datetime(1970, 1, 1)).total_seconds())
    message = (
        f"{NAMES[(period[0], kind)]} quota of this API key is used up "
        f"({used} of {quota} {kind}); it resets at {reset:%Y-%m-%d %H:%M} UTC"
    )
    return ApiError(
        429,
        message,
        {
            "Retry-After": str(wait),
            "X-RateLimit-Limit": str(quota),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(epoch),
            "x-should-retry": "false",  # a resend cannot succeed before the reset
        },
    )


def usage_loader(app) -> Callable[[int, str], tuple[int, int]]:
    """``load_usage`` in an app context, releasing the connection at once (hot path)."""

    def load(key_id: int, period: str) -> tuple[int, int]:
        with app.app_context():
            try:
                return load_usage(key_id, period)
            finally:
                db.session.remove()

    return load
