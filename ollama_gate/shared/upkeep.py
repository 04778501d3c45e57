"""A worker's background upkeep of what it keeps in Redis.

Slots in Redis are leases that expire unless renewed, so a worker that dies frees its
slots within one lease; the worker renews the leases of the calls it runs. What an
outage kept from landing (a slot given back, tokens charged) is kept in the worker and
sent again each tick until Redis answers. One background thread (a greenlet under
gevent) per worker runs each registered task once a tick.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from flask import Flask

log = logging.getLogger("ollama_gate.limits")  # the name it logged under in limits

MAX_PENDING = 10_000  # slots or charges kept through an outage, per kind and worker
TICK = 1.0  # seconds between two rounds of the tasks (shorter for short leases)


class Upkeep:
    """Runs each task every ``tick`` seconds in one background thread per process."""

    def __init__(self, tick: float = TICK):
        self.tick = tick
        self.tasks: list[Callable[[], None]] = []
        self._pid = 0  # the process the thread runs in (started after the fork)
        self._lock = threading.Lock()

    def add(self, task: Callable[[], None], tick: float = TICK) -> None:
        """Run ``task`` every tick (at most ``tick`` seconds apart)."""
        self.tasks.append(task)
        self.tick = min(self.tick, tick)

    def ensure(self) -> None:
        """Start the thread in this process if it is not running (cheap when it is)."""
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid != os.getpid():
                threading.Thread(
                    target=self._loop, name="ollama-gate-upkeep", daemon=True
                ).start()
                self._pid = os.getpid()

    def run_once(self) -> None:
        """One round of every task; a failing task does not stop the others."""
        for task in list(self.tasks):
            try:
                task()
            except Exception as exc:  # Redis still gone: the next tick tries again
                log.debug("upkeep task %r failed: %s", task, exc)

    def _loop(self) -> None:
        while True:
            time.sleep(self.tick)
            self.run_once()


def upkeep_of(app: Flask) -> Upkeep:
    """The app's one ``Upkeep`` (every slot counter and quota counter shares it)."""
    upkeep = app.extensions.get("ollama_gate_upkeep")
    if upkeep is None:
        upkeep = app.extensions["ollama_gate_upkeep"] = Upkeep()
    return upkeep
