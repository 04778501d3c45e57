"""The quota counters: calls and tokens per subject and period (a day, ISO
week or month: ``periods.py``), and the tokens that calls
in flight hold, in one worker's memory (``redis_counters.py`` keeps them in Redis).

A counter is kept under a subject's ``ref`` (``subjects.Subject.ref``: a key's is its
``limits_id``, one for every rotation of a key; a team's is one pool for its members).
At admission a call is counted and, when the key has a token quota, holds an estimate of
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
# a counter's tokens changed by a record: (ref, period, before, after)
Moved = tuple[str, str, int, int]
LEASE = 3600  # seconds a hold outlives its call at most (a worker that died)


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
    ) -> list[Moved]:
        """Add (limits id, period, calls, tokens) to seeded counters and drop the
        settled ``holds`` (limits id, token), in one step; drop old periods. The
        tokens of each counter changed, before and after (budget notices)."""
        moved = []
        with self._lock:
            for limits_id, period, calls, tokens in items:
                entry = self._counts.get((limits_id, period))
                if entry is not None:  # else seeded later from the database
                    entry[0] += calls
                    entry[1] += tokens
                    moved.append((limits_id, period, entry[1] - tokens, entry[1]))
            for limits_id, token in holds:
                own = self._held.get(limits_id)
                if own is not None:
                    own.pop(token, None)
                    if not own:
                        del self._held[limits_id]
            for stale in [k for k in self._counts if k[1] not in keep]:
                del self._counts[stale]
        return moved

    def cancel(self, ref: str, periods: tuple[str, ...], token: str | None) -> None:
        """Undo an admission another level then refused: uncount it, drop its hold."""
        with self._lock:
            for period in periods:
                entry = self._counts.get((ref, period))
                if entry is not None:
                    entry[0] -= 1
            own = self._held.get(ref)
            if token is not None and own is not None:
                own.pop(token, None)

    def current(self, limits_id: int, period: str) -> tuple[int, int] | None:
        """Live (calls, tokens), if this process holds them."""
        entry = self._counts.get((limits_id, period))
        return (entry[0], entry[1]) if entry else None
