"""Calls that wait a short while for one backend's slot before taking another's.

The routing stage may ask a call to wait for its prompt's home (``Call.home_hold``:
the backend and the seconds it is worth): another backend has a free
slot, but it would read the prompt cold. Such a call does not join the queue, so it
blocks nobody behind it: other models, other backends and calls that can start now
go on as before. Holders of one slot key (backend and model) go first come, first
served: only the first of them tries, and whoever frees a slot of that key in this
worker wakes it; a slot freed by another worker is seen at the next look (``POLL``).
Calls of its model waiting in the queue were there first, and keep their turn: a
holder gives up at once when this worker's queue has some (``stop``); with Redis the
cluster's take refuses it the slot while any wait, until its deadline.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

POLL = 0.05  # seconds between a holder's looks (slots freed by other workers)


class Holds:
    """This worker's holders, in line per slot key."""

    def __init__(self):
        self.lines: dict[str, list[threading.Event]] = {}
        self._lock = threading.Lock()
        self.kept = self.lost = 0  # holds that got their slot, and that gave up

    def hold(
        self,
        key: str,
        seconds: float,
        attempt: Callable[[], bool],
        stop: Callable[[], bool],
    ) -> bool:
        """Try ``attempt`` when first in ``key``'s line, until it succeeds (True) or
        ``seconds`` pass or ``stop()`` says to give up (False)."""
        me = threading.Event()
        with self._lock:
            self.lines.setdefault(key, []).append(me)
        deadline = time.monotonic() + seconds
        try:
            while True:
                if self._first(key, me):
                    if stop():
                        break
                    if attempt():
                        self.kept += 1
                        return True
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                me.wait(min(POLL, left))
                me.clear()
            self.lost += 1
            return False
        finally:
            with self._lock:
                line = self.lines[key]
                line.remove(me)
                if line:
                    line[0].set()  # the next holder looks now
                else:
                    del self.lines[key]

    def _first(self, key: str, me: threading.Event) -> bool:
        with self._lock:
            return self.lines[key][0] is me

    def wake(self, key: str) -> None:
        """A slot of ``key`` was given back: its first holder looks."""
        if not self.lines:  # the common case: no lock taken
            return
        with self._lock:
            line = self.lines.get(key)
            if line:
                line[0].set()
