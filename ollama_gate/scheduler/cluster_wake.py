"""Pushed wake-ups of the cluster queue: one subscriber per worker (a thread, a greenlet
under gevent) on the worker's own channel hands each message to the waiter it names.

``w <id>``: the waiter is first in its model's line (a slot may be free, or the one
before it left); ``r <id>``: its place went to a quieter key's call (``bounds``).
A message lost while Redis is away costs the waiter its safety look
(``cluster.SAFETY``), never its call.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from .bounds import gave_way

log = logging.getLogger("ollama_gate.scheduler")


class Wakes:
    """This worker's waiting calls by id, woken by messages on its channel."""

    def __init__(self, client, channel: str, errors, stranger=None):
        self.client = client
        self.stranger = stranger  # called with the id of a waiter not here
        self.channel = channel
        self.errors = errors
        self.waiters: dict[str, object] = {}
        self.pushed = 0  # wake-ups received (a test counts them)
        self._pid = 0
        self._lock = threading.Lock()

    def ensure(self) -> None:
        """Subscribe in this process, once: the subscription is confirmed before the
        first waiter joins, so no wake-up for it can come before it."""
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            pubsub = self._subscribe()
            threading.Thread(
                target=self._loop, args=(pubsub,), name="ollama-gate-wakes", daemon=True
            ).start()
            self._pid = os.getpid()

    def _subscribe(self):
        import redis  # only with REDIS_URL

        # a connection of its own, outside the worker's bounded pool: held for good,
        # it would take one of REDIS_MAX_CONNECTIONS from the calls
        pool = self.client.connection_pool
        own = redis.ConnectionPool(
            connection_class=pool.connection_class, **pool.connection_kwargs
        )
        pubsub = redis.Redis(connection_pool=own).pubsub()
        pubsub.subscribe(self.channel)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the confirmation
            msg = pubsub.get_message(timeout=0.5)
            if msg and msg["type"] == "subscribe":
                break
        return pubsub

    def add(self, waiter) -> None:
        self.waiters[waiter.id] = waiter

    def remove(self, waiter) -> None:
        self.waiters.pop(waiter.id, None)

    def dispatch(self, data: bytes) -> None:
        """One message: wake (or refuse) the waiter it names, if still here."""
        kind, _, wid = data.decode().partition(" ")
        waiter = self.waiters.get(wid)
        if waiter is None:
            if kind == "w" and self.stranger is not None:
                self.stranger(wid)  # first in line but gone: out, or it blocks all
            return
        if kind == "r":
            waiter.refused = gave_way()
        self.pushed += 1
        waiter.wake.set()

    def _loop(self, pubsub) -> None:
        while True:
            try:
                msg = pubsub.get_message(timeout=1.0)
                if msg and msg["type"] == "message":
                    self.dispatch(msg["data"])
            except self.errors as exc:  # Redis gone: waiters fall back on SAFETY
                log.warning("queue wake-ups lost, subscribing again: %s", exc)
                time.sleep(1.0)
                try:
                    pubsub.close()
                    pubsub = self._subscribe()
                except self.errors:
                    continue
                for waiter in list(self.waiters.values()):
                    waiter.wake.set()  # each looks once: a wake-up may be lost
