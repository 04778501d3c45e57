"""Each worker's background writer and sender: one thread (a greenlet under gevent)
that writes the facts ``emit`` queued, runs the periodic producers and sends the
deliveries that are due, every ``WEBHOOK_POLL_SECONDS`` or at once on a new fact.

A fact whose database is gone waits here (at most ``MAX_KEPT``) and is written when
it is back, as the recorder does with calls."""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable

from flask import Flask

from ..extensions import db
from ..recorder import database_gone
from .deliver import deliver_due
from .emit import Fact
from .store import write

log = logging.getLogger("ollama_gate.events")

MAX_QUEUED = 1000  # facts waiting for the writer; more are dropped (and logged)
MAX_KEPT = 1000  # facts kept through a database outage


class Events:
    """The app's event writer and webhook sender, one thread per process."""

    def __init__(self, app: Flask):
        self.app = app
        self.poll = app.config["GATE"]["WEBHOOK_POLL_SECONDS"]
        self.queued: queue.Queue[Fact] = queue.Queue(MAX_QUEUED)
        self.kept: deque[Fact] = deque()
        self.jobs: list[list] = []  # [every seconds, job(app), last run]
        self._pid = 0  # the process the thread runs in (started after the fork)
        self.told: dict[str, int] = {}  # queue.wait: model -> minute last told
        self.auto = True  # the first fact starts the thread (tests drive it by hand)
        self._lock = threading.Lock()

    def put(self, fact: Fact) -> None:
        """Queue a fact for the writer; never blocks."""
        try:
            self.queued.put_nowait(fact)
        except queue.Full:
            log.warning("event %s dropped: %d wait already", fact.kind, MAX_QUEUED)
            return
        if self.auto:
            self.start()

    def every(self, seconds: float, job: Callable[[Flask], None]) -> None:
        """Run ``job(app)`` in the background every ``seconds`` (first at start)."""
        self.jobs.append([seconds, job, 0.0])

    def start(self) -> None:
        """Start the thread in this process unless it runs (cheap when it does)."""
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid != os.getpid():
                threading.Thread(
                    target=self._loop, name="ollama-gate-events", daemon=True
                ).start()
                self._pid = os.getpid()

    def _loop(self) -> None:
        while True:
            try:
                self.kept.append(self.queued.get(timeout=self.poll))
            except queue.Empty:
                pass
            try:
                self.run_once()
            except Exception:  # the next round tries again
                log.exception("events: a round failed")

    def run_once(self) -> None:
        """Write what is queued, run the jobs due, send the deliveries due."""
        with self.app.app_context():
            self.write_queued()
            self.run_jobs()
            try:
                deliver_due(self.app)
            except Exception as exc:
                _rollback()
                if not database_gone(exc):
                    raise
                log.warning("events: no delivery while the database is away")

    def write_queued(self) -> None:
        """Write every queued fact, oldest first; keep them while the database is
        away."""
        while True:
            try:
                self.kept.append(self.queued.get_nowait())
            except queue.Empty:
                break
        while len(self.kept) > MAX_KEPT:
            log.error("event %s dropped: the database is away", self.kept[0].kind)
            self.kept.popleft()
        while self.kept:
            try:
                write(self.kept[0])
            except Exception as exc:
                _rollback()
                if database_gone(exc):
                    log.warning("events: %d kept for the database", len(self.kept))
                    return
                log.exception("event %s could not be written", self.kept[0].kind)
            self.kept.popleft()

    def run_jobs(self) -> None:
        """Run each periodic job that is due; a failing job does not stop others."""
        now = time.monotonic()
        for job in self.jobs:
            every, run, last = job
            if last and now - last < every:
                continue
            job[2] = now
            try:
                run(self.app)
            except Exception:
                _rollback()
                log.warning("events: job %s failed", run.__name__, exc_info=True)


def _rollback() -> None:
    try:
        db.session.rollback()
    except Exception:  # the connection itself is gone
        db.session.remove()
