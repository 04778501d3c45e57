"""What the cluster queue holds, as ``/api/ps``, the Backends page and the bounds read
it: every worker's waiting calls, from Redis (read at most every ``FRESH`` seconds for
the pages: ``/api/ps`` asks once per backend and model)."""

from __future__ import annotations

import json
import time
from collections import Counter, deque
from types import SimpleNamespace

from .waiter import summary_of

RECENT = 100  # waits kept per model for the backends page (this worker's)
FRESH = 0.25  # seconds a read of the whole line serves the pages


def held_waiter(raw: bytes) -> SimpleNamespace:
    """A waiter's record as ``bounds.Bounds.admit`` counts it."""
    w = json.loads(raw)
    return SimpleNamespace(
        id=w["id"],
        group=w["g"],
        owner=w["o"],  # as Redis keeps it (JSON)
        band=w["b"],
        since=w["s"],
        order=w["n"],
        key=w.get("key"),
        user=w.get("user"),
        size=w.get("size") or 0,
        subjects=frozenset(w.get("subj") or ()),  # {} when empty (Lua's cjson)
    )


class ClusterView:
    """Reads of the cluster's line (the parts of FairQueue's interface that count)."""

    def __init__(self, client, prefix: str, **_opts):
        import redis  # only with REDIS_URL

        self.client = client
        self.prefix = prefix
        self.all_key = f"{prefix}:all"
        self.watch_error = redis.WatchError
        self.batch_max_wait = getattr(self, "batch_max_wait", 60.0)
        self.waited: dict[str, deque[float]] = {}  # this worker's last waits
        self._seen: tuple[float, list] = (0.0, [])

    def held_now(self, client=None) -> list[SimpleNamespace]:
        """Every waiting call, oldest first."""
        raws = (client or self.client).hvals(self.all_key)
        return sorted(map(held_waiter, raws), key=lambda w: w.order)

    def _line(self) -> list[SimpleNamespace]:
        at, line = self._seen
        if time.monotonic() - at > FRESH:
            line = self.held_now()
            self._seen = (time.monotonic(), line)
        return line

    def _now(self) -> float:
        sec, usec = self.client.time()
        return sec + usec / 1e6

    def waiting(self) -> Counter:
        """Calls waiting now in the whole gateway, per model."""
        return Counter(w.group for w in self._line())

    def bands(self) -> Counter:
        """Calls waiting now, per (model, band they wait in now: 0 or 1)."""
        line = self._line()
        now = self._now() if line else 0.0
        return Counter(
            (w.group, 0 if now - w.since >= self.batch_max_wait else w.band)
            for w in line
        )

    def summary(self) -> dict:
        """The queue now, as ``/api/ps`` shows it (``waiter.summary_of``)."""
        return summary_of(self.bands())

    def held(self) -> tuple[int, int]:
        """Calls waiting now, and the bytes their bodies hold (estimated)."""
        line = self.held_now()
        return len(line), sum(w.size for w in line)

    def recent(self, group: str) -> deque[float]:
        """This worker's last waits of calls of model ``group``."""
        waits = self.waited.get(group)
        if waits is None:
            waits = self.waited[group] = deque(maxlen=RECENT)
        return waits

    def notify(self) -> None:
        """Wake-ups are pushed by the scripts: nothing to do."""
