"""Runs the after-call work (usage, history) off the hot path, in one background worker.

The gateway hands each finished ``Call`` to ``Recorder.submit``; a single background
thread (a greenlet under gevent) runs the pipeline's ``record`` steps on batches of
them inside an app context, so no stream ever waits for a database write.

A step whose database is gone (a restart, a failover, a cut network) keeps its
batches and tries them again, oldest first, with a growing pause, until they land:
an outage of any length loses no record while at most ``RECORD_MAX_PENDING`` calls
wait. Past that the newest are dropped (the oldest were waiting first), logged and
counted in ``ollama_gate_records_dropped_total``.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable

from flask import Flask
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from .metrics.registry import RECORDS_DROPPED, RECORDS_PENDING
from .turns import turn_if_due

log = logging.getLogger("ollama_gate.recorder")

Hook = Callable[[list], None]

RETRY_FIRST = 0.5  # seconds before a kept batch is tried again; doubled each time
RETRY_MOST = 15.0  # the longest pause between two tries


def database_gone(exc: BaseException) -> bool:
    """True for a failure the same write can outlive: the database locked, down,
    or its connection lost (not a row it refuses, nor a bug)."""
    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def step_name(hook: Hook) -> str:
    """A recorder step's name for logs and metrics: its stage's name."""
    owner = getattr(hook, "__self__", None)
    return str(getattr(owner, "name", None) or getattr(hook, "__name__", "step"))


class Recorder:
    """A queue of finished calls and the hooks that consume them in batches."""

    BATCH = 200
    # Gather finished calls this long before writing them in one batch: under gevent a
    # database write holds the whole worker, so one write per call would delay the
    # next request and every stream's chunks by a few milliseconds; batched, it
    # happens rarely and costs one commit for many calls. ``flush()`` writes at once.
    INTERVAL = 0.5
    # Between the hooks of a batch the worker lets the streams' waiting tokens go
    # (``turn_if_due``; under gevent a hook holds the worker), and the hooks that
    # loop over the calls take turns inside (``in_turns``). Each hook still takes the
    # whole batch: one commit each, as before (slices of 20 calls cost about 8% more
    # CPU per call in the burst workloads, in their commits).

    def __init__(self, app: Flask, hooks: list[Hook]):
        self.app = app
        self.hooks = hooks  # each takes a list of finished calls, in pipeline order
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._pid = 0  # process the worker thread was started in
        self.max_pending = app.config["GATE"]["RECORD_MAX_PENDING"]
        # batches a step could not write yet, oldest first, per step (the steps
        # that did write them are not run again)
        self.kept: dict[Hook, deque[list]] = {}
        self.pending = 0  # calls in ``kept``, all steps together
        self.pause = RETRY_FIRST
        self.next_try = 0.0

    def submit(self, call) -> None:
        """Queue a finished call; never blocks the caller."""
        if not self.hooks:
            return
        self._ensure_worker()
        self._queue.put(call)

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every queued call has been handled (tests and shutdown)."""
        done = threading.Event()
        if self._thread is None:
            return
        self._queue.put(done)
        done.wait(timeout)

    def _ensure_worker(self) -> None:
        # started lazily so that it runs in the worker process, after gunicorn's fork;
        # the pid check is cheap, unlike ``is_alive()`` on every call under gevent
        if self._pid == os.getpid():
            return
        if self._thread is None or not self._thread.is_alive():
            with self._start_lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(
                        target=self._run, name="ollama-gate-recorder", daemon=True
                    )
                    self._thread.start()
                    self._pid = os.getpid()

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            self._pid = 0  # never expected; lets the next call start a new worker

    def _loop(self) -> None:
        while True:
            batch, markers = [], []
            try:
                item = self._queue.get(timeout=self._retry_in())
            except queue.Empty:  # time to try the kept batches again
                self._retry()
                continue
            deadline = time.monotonic() + self.INTERVAL
            while True:
                (markers if isinstance(item, threading.Event) else batch).append(item)
                if len(batch) >= self.BATCH or markers:
                    break
                wait = deadline - time.monotonic()
                try:
                    item = (
                        self._queue.get(timeout=wait)
                        if wait > 0
                        else self._queue.get_nowait()
                    )
                except queue.Empty:
                    break
            if self.kept and (markers or time.monotonic() >= self.next_try):
                self._retry()
            if batch:
                self._handle(batch)
            for marker in markers:
                marker.set()

    def _retry_in(self) -> float | None:
        """Seconds until the kept batches are tried again (None: nothing kept)."""
        return max(0.0, self.next_try - time.monotonic()) if self.kept else None

    def _handle(self, batch: list) -> None:
        with self.app.app_context():
            for hook in self.hooks:
                turn_if_due()
                if hook in self.kept:  # after its older batches, in order
                    self._keep(hook, batch)
                elif not self._step(hook, batch):
                    self._keep(hook, batch)
                    self.next_try = time.monotonic() + self.pause

    def _step(self, hook: Hook, batch: list) -> bool:
        """Run one step on a batch; False when its database is gone (keep it)."""
        try:
            hook(batch)
            return True
        # a failing hook must not stop the others or the worker
        except Exception as exc:
            _rollback()  # its broken transaction would fail every hook after
            if database_gone(exc):
                log.warning(
                    "recorder step %s could not write %d calls (%s); kept to retry",
                    step_name(hook),
                    len(batch),
                    str(exc).splitlines()[0][:200],
                )
                return False
            log.exception("recorder hook %r failed", hook)
            return True  # not the database's absence: trying again would not help

    def _keep(self, hook: Hook, batch: list) -> None:
        """Keep a step's batch for later, within ``max_pending`` calls in all."""
        room = max(0, self.max_pending - self.pending)
        if len(batch) > room:  # the newest go: the oldest have waited longest
            dropped = len(batch) - room
            RECORDS_DROPPED.labels(step_name(hook)).inc(dropped)
            log.error(
                "recorder step %s dropped %d calls: %d are already waiting for "
                "the database (OLLAMA_GATE_RECORD_MAX_PENDING)",
                step_name(hook),
                dropped,
                self.pending,
            )
            batch = batch[:room]
        if batch:
            self.kept.setdefault(hook, deque()).append(batch)
            self._count(len(batch))

    def _count(self, delta: int) -> None:
        self.pending += delta
        RECORDS_PENDING.inc(delta)

    def _retry(self) -> None:
        """Try each step's kept batches, oldest first, until one fails again."""
        with self.app.app_context():
            for hook in [h for h in self.hooks if h in self.kept]:
                batches = self.kept[hook]
                while batches:
                    if not self._step(hook, batches[0]):
                        self.pause = min(self.pause * 2, RETRY_MOST)
                        self.next_try = time.monotonic() + self.pause
                        return
                    self._count(-len(batches.popleft()))
                    turn_if_due()
                del self.kept[hook]
                log.info("recorder step %s caught up", step_name(hook))
        self.pause = RETRY_FIRST


def _rollback() -> None:
    """Roll the app's database session back after a failed hook, if it can be."""
    from .extensions import db  # here: the recorder itself does not need a database

    try:
        db.session.rollback()
    except Exception:  # the connection itself is gone: the next hook gets a new one
        log.exception("rollback after a failed recorder hook failed")
        db.session.remove()
