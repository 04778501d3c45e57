"""The gateway's one queue when Redis is configured: every worker of every host waits
in it, in ``queue.FairQueue``'s order (band, fewest running per weight across the
cluster, start-time fair turns, age), kept by the scripts of ``cluster_lua``.

No worker polls. A call that finds no slot joins its model's line; whoever frees a
slot (or leaves the line, or is granted and so leaves it) wakes the first in line on
its own worker (``cluster_wake``), and that call then tries its candidates as today
(late binding: the backend is chosen at the grant, on the newest load and health).
A call that loses the race stays first. A call that found a free slot with nobody
waiting pays no Redis round trip more than before: the take script is the slot's
acquire, with the line's check folded in, and on a backend that holds few models the
swap order (``cluster_rooms_lua``: its held models first, across every worker; no
call passed over past ``SWAP_MAX_PASS``). With a headroom (``headroom``), a call
whose owner runs nothing takes a free slot beside the line when the fair order
puts it first anyway (the take script decides). ``SAFETY``: a waiter that heard nothing
that long looks once anyway (a lost message never strands a call).

Each worker beats every second; a worker silent ``HEARTBEAT`` seconds is dead: any
worker's beat removes its waiters, gives its slots back and wakes the next in line.
A worker that was only slow finds its waiters' places gone: they join again.
What may wait is ``bounds.Bounds``'s to say, counted over the whole cluster.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable

from ..errors import ApiError
from . import cluster_line_lua as lua
from .bounds import Bounds, full
from .cluster_slots import ClusterSlots, owner_text
from .waiter import ClientGone, Waiter

SAFETY = 1.5  # seconds a waiter waits for a wake-up before it looks anyway
CHECK = 0.1  # seconds between looks at the waiting client's socket (no Redis)
JOINS = 50  # tries to join while other workers change the line (optimistic)


class ClusterQueue(ClusterSlots):
    """The whole gateway's waiting calls, in Redis; the same interface as FairQueue."""

    def __init__(self, client, prefix: str, bounds: Bounds, timeout: float, **opts):
        self.batch_max_wait = opts.get("batch_max_wait", 60.0)
        super().__init__(client, f"{prefix}:queue", **opts)
        self.bounds = bounds
        self.timeout = timeout
        self.observer = opts.get("observer")
        self._join = client.register_script(lua.JOIN)
        self._leave = client.register_script(lua.LEAVE)
        self._ids = itertools.count(1)
        self.tries = {"pushed": 0, "safety": 0, "first": 0}  # why waiters looked
        self.grants = dict.fromkeys(self.tries, 0)  # ... when the look found a slot
        self.rejoined = 0  # waiters whose place was swept away while they waited

    # -- waiting ---------------------------------------------------------------

    def wait(
        self,
        me: Waiter,
        try_acquire: Callable[[Waiter], object],
        client_gone: Callable[[], bool],
    ):
        """Wait in the cluster's line for ``try_acquire(me)`` to give a slot; 503
        when it may not wait, gave its place up or waited too long; ``ClientGone``
        when the client left."""
        me.id = f"{self.here()}:{next(self._ids)}"
        self.wakes.ensure()
        self.wakes.add(me)
        joined = False
        try:
            first = self._join_line(me)
            joined = True
            if self.observer is not None:
                self.observer.waiting(me.group, 1)
            deadline = me.since + self.timeout
            looked, why = time.monotonic(), "first" if first else None
            while True:
                if me.refused is not None:
                    raise me.refused
                if why is not None:
                    self.tries[why] += 1
                    looked = time.monotonic()
                    got = try_acquire(me)
                    if got is not None:
                        self.grants[why] += 1
                        self._waited(me)
                        return got
                    if me.refused is not None:
                        raise me.refused
                    if me.lost:  # this worker was swept as dead: in line again
                        why = "first" if self._rejoin(me) else None
                        continue
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ApiError(
                        503,
                        f"every backend for model '{me.group}' stayed busy for "
                        f"{self.timeout:g} s (the queue timeout); retry later",
                        {"Retry-After": "10"},
                    )
                woken = me.wake.wait(min(CHECK, left))
                me.wake.clear()
                why = "pushed" if woken else None
                if client_gone():
                    raise ClientGone
                if why is None and time.monotonic() - looked >= SAFETY:
                    why = "safety"
        finally:
            self.wakes.remove(me)
            if joined:  # the next is woken
                self.run_or_owe(self._leave, [*self._args(), me.id])
                if self.observer is not None:
                    self.observer.waiting(me.group, -1)

    def _rejoin(self, me: Waiter) -> bool:
        """Join the line again under a new id (the old place was swept away)."""
        self.wakes.remove(me)
        me.id, me.lost = f"{self.here()}:{next(self._ids)}", False
        self.wakes.add(me)
        self.rejoined += 1
        return self._join_line(me)

    def forget(self, wid: str) -> None:
        """A waiter of this worker that is gone leaves the line (its leave was lost)."""
        if wid.rsplit(":", 1)[0] == self.worker:
            self.run_or_owe(self._leave, [*self._args(), wid])

    def _join_line(self, me: Waiter) -> bool:
        """Join ``me``'s model's line if the bounds allow (some may give their place
        to it); True when it is first."""
        record = {
            "id": me.id,
            "g": me.group,
            "o": owner_text(me.owner),
            "w": me.weight,
            "b": me.band,
            "k": self.here(),
            "key": me.key,
            "user": me.user,
            "size": me.size,
            "subj": sorted(me.subjects),
        }
        if me.rooms:  # backends that hold few models: the swap order's waiters
            record["r"] = [state.name for state in me.rooms]
        for _ in range(JOINS):
            with self.client.pipeline() as pipe:
                try:
                    pipe.watch(self.all_key)  # any change to the line: again
                    victims = self.bounds.admit(self.held_now(pipe), me)
                    pipe.multi()
                    args = [json.dumps(record), record["o"], me.weight]
                    ids = [v.id for v in victims]
                    self._join(args=[*self._args(), *args, *ids], client=pipe)
                    return bool(pipe.execute()[0])
                except self.watch_error:
                    continue
        raise full("the gateway's queue is too busy to join")

    def _waited(self, me: Waiter) -> None:
        waited = time.monotonic() - me.since
        self.recent(me.group).append(waited)
        if self.observer is not None:
            self.observer.waited(waited)
