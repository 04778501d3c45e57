"""In-memory rate limit storage for one worker, without a background timer.

``limits``' ``MemoryStorage`` starts a 10 ms timer at every hit, and the timer then
walks every key's moving window. Under gevent that is a greenlet spawned per call and
a scan of up to 64 keys x 600 entries landing on whichever answer is in flight: about
5% of the worker's CPU, and +0.3 ms on a first token (bench/PROFILE.md). Here expired
entries are swept inline at most once per ``SWEEP_EVERY`` seconds, and a hit takes
one plain lock instead of a re-entrant lock per key. The windows themselves are the
parent's: a hit never depends on a sweep, because ``acquire_entry`` compares the
entry at position ``limit - 1`` with the window's start whatever lies beyond it.
"""

from __future__ import annotations

import bisect
import threading
import time

from limits.storage.memory import Entry, MemoryStorage

SWEEP_EVERY = 5.0  # seconds between sweeps of expired entries (memory, not exactness)


class SweptMemoryStorage(MemoryStorage):
    """``MemoryStorage`` with inline, periodic expiry instead of a timer thread."""

    STORAGE_SCHEME = ["gate-memory"]  # registers the scheme with ``limits``

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **_):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **_)
        self._stop_timer()
        self.lock = threading.Lock()
        self.next_sweep = time.monotonic() + SWEEP_EVERY

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self._stop_timer()
        self.lock = threading.Lock()
        self.next_sweep = time.monotonic() + SWEEP_EVERY

    def _stop_timer(self) -> None:
        """End the timer the parent started; nothing here starts another."""
        self.timer.cancel()
        self.timer.join()

    def _MemoryStorage__schedule_expiry(self) -> None:  # noqa: N802 (the parent's hook)
        """Called by the parent before every change: sweep if one is due."""
        now = time.monotonic()
        if now >= self.next_sweep:
            self.next_sweep = now + SWEEP_EVERY
            self.sweep()

    def sweep(self) -> None:
        """Drop expired moving-window entries and fixed-window counters."""
        now = time.time()
        with self.lock:
            for key, events in list(self.events.items()):
                # newest first: the expired ones are a tail
                del events[bisect.bisect_left(events, -now, key=lambda e: -e.expiry) :]
                if not events:
                    del self.events[key]
        for key in [k for k, when in self.expirations.items() if when <= now]:
            self.storage.pop(key, None)
            self.expirations.pop(key, None)
            self.locks.pop(key, None)

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        """Take ``amount`` entries in the moving window of ``key`` if it has room."""
        if amount > limit:
            return False
        self._MemoryStorage__schedule_expiry()
        with self.lock:
            events = self.events.get(key)
            if events is None:
                events = self.events[key] = []
            # newest first: the window is full when the entry ``limit - amount``
            # places back is still inside it
            if len(events) > limit - amount:
                if events[limit - amount].atime >= time.time() - expiry:
                    return False
                del events[limit - amount :]  # all outside the window: never counted
            events[:0] = [Entry(expiry)] * amount
            return True
