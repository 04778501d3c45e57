"""The cluster queue's side of a slot: taking one (the slot's acquire with the line's
check and the headroom folded in, so a call that needs no queue pays no round trip
more), giving it back (which wakes the first in line), and the worker's heartbeat
that lets any other worker sweep it away when it dies. A waiter's take also returns
the hand-off (Redis' time from the slot freed for it to its grant): the metrics'
``ollama_gate_queue_handoff_seconds``.

A worker is named ``host:pid:random`` once in each process (a preloaded app forks
into workers that each need their own name, channel and heartbeat).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections import deque

from . import cluster_line_lua as line_lua
from . import cluster_lua as lua
from . import cluster_take_lua as take_lua
from .cluster_view import ClusterView
from .cluster_wake import Wakes

HEARTBEAT = 5.0  # seconds without a beat that make a worker dead
BEAT_EVERY = 1.0  # seconds between a worker's beats
log = logging.getLogger("ollama_gate.scheduler")
MAX_OWED = 10_000  # gives kept through a Redis outage (their leases end them anyway)


def owner_text(owner) -> str:
    """An owner as Redis keeps it (a key's or user's id, or a person's ref)."""
    return json.dumps(owner)


class ClusterSlots(ClusterView):
    """Slots taken and given back through the line's scripts; this worker's beat."""

    def __init__(self, client, prefix: str, **opts):
        super().__init__(client, prefix)
        self.errors = opts.get("errors", (OSError,))
        self.heartbeat = opts.get("heartbeat", HEARTBEAT)
        self.max_pass = opts.get("max_pass", 60.0)  # SWAP_MAX_PASS
        self.rooms = opts.get("rooms")  # cluster_rooms.SharedRooms, or None
        self._named = opts.get("worker")  # fixed (tests), else one per process
        self._pid = 0
        self._take = client.register_script(take_lua.TAKE)
        self._give = client.register_script(lua.GIVE)
        self._beat = client.register_script(line_lua.BEAT)
        self.owed: list[tuple] = []  # gives and leaves an outage kept from landing
        self.beats = opts.get("beats", False)  # beat each second (tests beat)
        self.headroom = opts.get("headroom", 0)  # slots kept for owners idle
        # the last hand-offs (seconds from a slot freed to a waiter granted it,
        # same worker): the metrics get each one through the observer
        self.handoffs: deque[tuple[float, bool]] = deque(maxlen=1000)

    def _args(self) -> list:
        return [self.prefix, self.batch_max_wait, self.max_pass]

    def here(self) -> str:
        """This process's worker name; its first use beats once and starts the
        beats (a worker whose calls only wait sweeps the dead all the same)."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self.worker = self._named or (
                f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
            )
            self.wakes = Wakes(
                self.client,
                f"{self.prefix}:wake:{self.worker}",
                self.errors,
                self.forget,
            )
            self.beat()  # known before it holds anything
            if self.beats:  # its own thread: no slower task delays a beat
                atexit.register(self._goodbye)
                threading.Thread(
                    target=self._beating, name="ollama-gate-beat", daemon=True
                ).start()
        return self.worker

    def _beating(self) -> None:
        pid = os.getpid()
        while pid == self._pid:
            time.sleep(BEAT_EVERY)
            try:
                self.beat()
            except Exception as exc:  # Redis gone: the next beat tries again
                log.warning("the queue's heartbeat failed: %s", exc)

    def beat(self) -> list[str]:
        """This worker's heartbeat (and gives an outage kept); the workers found
        dead, their waiters and slots now gone."""
        worker = self.here()
        while self.owed:
            script, args = self.owed[-1]
            script(args=args)
            self.owed.pop()
        dead = []
        for row in self._beat(args=[*self._args(), worker, self.heartbeat]):
            name, waiters, slots = row.decode().rsplit(" ", 2)
            dead.append(name)
            # a worker that exited (``_goodbye``) holds nothing: no warning for it
            warn = log.warning if waiters != "0" or slots != "0" else log.info
            warn(
                "worker %s silent over %g s: %s waiting calls and %s slots of its "
                "given back",
                name,
                self.heartbeat,
                waiters,
                slots,
            )
        return dead

    def _goodbye(self) -> None:
        """At exit: this worker counts as silent now, so the next beat of any worker
        sweeps whatever it left (usually nothing) at once."""
        try:
            self.client.zadd(f"{self.prefix}:workers", {self.worker: 0})
        except Exception:  # noqa: BLE001 - exiting: its beat ends it in seconds anyway
            pass

    def take(self, slots, key, limit, owner, weight, group, waiter, state=None, band=0):
        """A slot of ``key`` (on backend ``state``), or None: full, or (a call that
        did not wait, in ``band``) others of its model wait, or (a waiter) it is not
        first in line; on a backend that holds few models, not its model's turn
        there, or every model it holds runs (one script: the room's part costs no
        round trip)."""
        worker = self.here()
        room = self.rooms.room_args(state) if self.rooms and state else ["", 0, ""]
        token = f"{worker}.{uuid.uuid4().hex}"
        got = self._take(
            args=[
                *self._args(),
                slots.redis_key(key),
                limit,
                slots.lease,
                token,
                worker,
                owner_text(owner),
                weight,
                group,
                waiter.id if waiter is not None else "",
                time.time(),
                self.headroom,
                band,
                *room,  # last: its models are a list of any length
            ]
        )
        if isinstance(got, list):  # a waiter took a slot freed for it
            got, micros, same = got
            self._handed(micros / 1e6, bool(same))
        if got == -2 and waiter is not None:  # swept: this worker seemed dead
            waiter.lost = True  # it joins again
        if got != 1:
            return None
        slots.hold(key, token)
        return token

    def _handed(self, seconds: float, same: bool) -> None:
        self.handoffs.append((seconds, same))
        observer = getattr(self, "observer", None)
        if observer is not None:
            observer.handoff(seconds, same)

    def untake(self, slots, key: str, token: str, owner, group, waiter) -> None:
        """Give back a slot taken but not started (without waking ``waiter``)."""
        self._release(slots, key, token, group, waiter.id if waiter else "")

    def give(self, slots, key: str, token: str, owner, group: str) -> None:
        """A call's slot given back; the first in its model's line is woken."""
        self._release(slots, key, token, group, "")

    def _release(self, slots, key, token, group, skip: str) -> None:
        slots.drop(key, token)
        args = [*self._args(), slots.redis_key(key), token, self.here(), group, skip]
        self.run_or_owe(self._give, args)

    def run_or_owe(self, script, args: list) -> None:
        """Run a script that must land (a give, a leave); while Redis is gone, again
        at each beat (a slot's lease, a worker's heartbeat end them meanwhile)."""
        try:
            script(args=args)
        except self.errors:
            if len(self.owed) < MAX_OWED:
                self.owed.append((script, args))

    def forget(self, wid: str) -> None:
        """Take out of the line a waiter of this worker that is no longer here (its
        leave was lost): first in line, it would hold up every call of its model."""

    def started(self, owner, weight: int = 1, waiter=None) -> None:
        """Counted by the take script already."""

    def passes_over(self, state, group: str) -> bool:
        """The take script holds the swap order (``cluster_rooms_lua``)."""
        return False

    def interactive_waiting(self, group: str) -> bool:
        """The take script refuses a call when any of its model waits."""
        return False
