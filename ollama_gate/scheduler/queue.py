"""The gateway's queue: calls that find every candidate's slots full wait here, and
each free slot goes to the waiting call whose owner (key or user) has the fewest
calls running per unit of its weight; among equals, the owner whose next turn comes
first in a weighted round robin (start-time fair queuing: an owner of weight 3 gets
three turns to another's one), then the oldest call. So one key's burst of a hundred
calls cannot starve another key's single call, and no call waits past the queue
timeout. What may wait (calls and their bodies' bytes, per key, per user and in all)
is ``bounds.Bounds``'s to say: one key's burst cannot fill the queue either.

Slots are counted exactly (in Redis across workers and hosts); this queue is per
worker (the one without Redis: with it, ``cluster.ClusterQueue`` is the gateway's
one queue): a slot freed here wakes the waiters at once.

Calls that may run only on backends holding few models at once (``rooms.Rooms``)
also wait for each other across models: a call of a model its backend holds goes
before one that would swap a model out, unless that one has been passed over for
``SWAP_MAX_PASS`` seconds; then the backend takes nothing new until the swap.

Before all of that comes the call's priority band (``bands``): a waiting interactive
call goes before every batch call, and a batch call that waited ``BATCH_MAX_WAIT``
seconds counts as interactive from then on.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter, deque
from collections.abc import Callable

from ..errors import ApiError
from .bounds import Bounds, gave_way
from .headroom import cap
from .waiter import ClientGone, Waiter, summary_of

POLL = 0.1  # seconds between a waiter's own looks (slots freed by other workers)
RECENT = 100  # waits kept per model for the backends page


class FairQueue:
    """Waiting calls, granted by fewest calls running per owner, then age."""

    def __init__(
        self,
        bounds: Bounds,
        timeout: float,
        observer=None,
        fits=None,
        max_pass=60.0,
        batch_max_wait=60.0,
        headroom=0,
    ):
        self.headroom = headroom  # slots kept for owners with none running
        self.batch_max_wait = batch_max_wait  # seconds before batch counts as first
        self.observer = observer  # told of each wait (the metrics), or None
        self.fits = fits  # fits(backend, model): it runs there without a swap
        self.max_pass = max_pass  # seconds a call that needs a swap may be passed
        self.clock = time.monotonic
        self.bounds = bounds
        self.timeout = timeout
        self.waiters: list[Waiter] = []
        self.running: Counter = Counter()  # calls holding a slot, per owner
        self.finish: dict = {}  # owner -> virtual time its last turn ended
        self.vclock = 0.0  # virtual time of the last turn given
        # the last waits per model, seconds (the backends page)
        self.waited: dict[str, deque[float]] = {}
        self._order = itertools.count()
        self._lock = threading.Lock()

    def wait(
        self,
        me: Waiter,
        try_acquire: Callable[[Waiter], object],
        client_gone: Callable[[], bool],
    ):
        """Wait for ``try_acquire(me)`` to give a slot on this call's turn; 503 when
        the call may not wait (the bounds), gave its place up, or waited too long;
        ``ClientGone`` when the client left."""
        group = me.group
        with self._lock:
            victims = self.bounds.admit(self.waiters, me)
            for victim in victims:  # out now: their room is the newcomer's
                self.waiters.remove(victim)
                victim.refused = gave_way()
                victim.wake.set()
            me.order = next(self._order)
            me.start = self._take_turn(me.owner, me.weight)
            self.waiters.append(me)
        if self.observer is not None:
            self.observer.waiting(group, 1)
        deadline = me.since + self.timeout
        try:
            while True:
                if me.refused is not None:
                    raise me.refused
                if self._my_turn(me):
                    got = try_acquire(me)
                    if got is not None:
                        waited = time.monotonic() - me.since
                        self.recent(group).append(waited)
                        if self.observer is not None:
                            self.observer.waited(waited)
                        return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ApiError(
                        503,
                        f"every backend for model '{group}' stayed busy for "
                        f"{self.timeout:g} s (the queue timeout); retry later",
                        {"Retry-After": "10"},
                    )
                me.wake.wait(min(POLL, left))
                me.wake.clear()
                if client_gone():
                    raise ClientGone
        finally:
            with self._lock:
                if me in self.waiters:  # not when it gave its place up
                    self.waiters.remove(me)
            if self.observer is not None:
                self.observer.waiting(group, -1)
            self.notify()  # the next in line may take what this one did not

    def _my_turn(self, me: Waiter) -> bool:
        """True when no waiter of the same model comes before ``me``."""
        with self._lock:
            if me.refused is not None:
                return False
            rivals = [w for w in self.waiters if w.group == me.group]
            now = self.clock()
            best = min(rivals, key=lambda w: self._fair(w, now))
            if best is not me:
                return False
            return not me.rooms or self.fits is None or self._swap_turn(me)

    def _fair(self, w: Waiter, now: float | None = None) -> tuple:
        """The fair order: the band (batch aged past its bound counts as
        interactive), then fewest running per weight, then turns, then age."""
        return (self.band(w, now), self.running[w.owner] / w.weight, w.start, w.order)

    def band(self, w: Waiter, now: float | None = None) -> int:
        """The band ``w`` waits in now: its own, until a batch call is old enough."""
        if (
            w.band
            and (self.clock() if now is None else now) - w.since >= self.batch_max_wait
        ):
            return 0
        return w.band

    def _overdue(self, w: Waiter, now: float) -> bool:
        """True when ``w`` waits to swap a model in and was passed over too long."""
        return now - w.since >= self.max_pass and not any(
            self.fits(r, w.group) for r in w.rooms
        )

    def _swap_turn(self, me: Waiter) -> bool:
        """Across models sharing a backend (lock held): a call passed over too long
        goes after the calls older than it only; else calls of a held model first;
        else the fair order."""
        now = self.clock()
        mine = {r.name for r in me.rooms}
        others = [
            w
            for w in self.waiters
            if w.group != me.group and any(r.name in mine for r in w.rooms)
        ]
        late = [w for w in [*others, me] if self._overdue(w, now)]
        if late:  # the backend drains for the oldest of them; older calls go first,
            # one at a time: a late call waits for older ones of held models too,
            # or both would think it their turn and race for the slot
            return me.since <= min(w.since for w in [*others, me])
        if any(self.fits(r, me.group) for r in me.rooms):
            return True
        if any(
            self.fits(r, w.group) for w in others for r in w.rooms if r.name in mine
        ):
            return False  # a call of a held model goes first
        return all(self._fair(me, now) <= self._fair(w, now) for w in others)

    def passes_over(self, state, group: str) -> bool:
        """True when a call of ``group`` that did not wait must not start on
        ``state``: a call of another model waits for a swap there, passed over too
        long."""
        if self.fits is None or not self.waiters:  # the common case: no lock taken
            return False
        now = self.clock()
        with self._lock:
            return any(
                w.group != group
                and any(r.name == state.name for r in w.rooms)
                and self._overdue(w, now)
                for w in self.waiters
            )

    def recent(self, group: str) -> deque[float]:
        """The last waits of calls of model ``group``."""
        waits = self.waited.get(group)
        if waits is None:
            waits = self.waited[group] = deque(maxlen=RECENT)
        return waits

    def notify(self) -> None:
        """A slot may be free: every waiter looks (whose turn it is takes it)."""
        for w in list(self.waiters):
            w.wake.set()

    def _take_turn(self, owner, weight: int) -> float:
        """The virtual start of ``owner``'s next turn, which is then taken: after its
        last turn, never before now (an owner that was away banks no turns). Called
        with the lock held."""
        start = max(self.finish.get(owner, 0.0), self.vclock)
        self.finish[owner] = start + 1 / max(1, weight)
        if len(self.finish) > 10_000:  # owners long gone
            self.finish = {o: t for o, t in self.finish.items() if t > self.vclock}
        return start

    def take(self, slots, key, limit, owner, weight, group, waiter, state=None, band=0):
        """A slot of ``key`` for a call (its turn is counted by ``started``); an
        owner with calls running leaves the headroom free (``headroom.cap``)."""
        if self.headroom:
            limit = cap(limit, self.headroom, self.running[owner])
        return slots.acquire(key, limit)

    def untake(self, slots, key: str, token: str, owner, group, waiter) -> None:
        """Undo a ``take`` that did not start (its model would swap a busy one out)."""
        slots.release(key, token)

    def give(self, slots, key: str, token: str, owner, group: str) -> None:
        """A started call's slot given back."""
        slots.release(key, token)
        self.ended(owner)

    def started(self, owner, weight: int = 1, waiter: Waiter | None = None) -> None:
        """A call of ``owner`` holds a slot now (a waiter's turn comes from its tag;
        a call that did not wait takes a turn now)."""
        with self._lock:
            self.running[owner] += 1
            self.vclock = max(
                self.vclock,
                waiter.start if waiter else self._take_turn(owner, weight),
            )

    def ended(self, owner) -> None:
        """A call of ``owner`` gave its slot back."""
        with self._lock:
            self.running[owner] -= 1
            if self.running[owner] <= 0:
                del self.running[owner]
        self.notify()

    def waiting(self) -> Counter:
        """Calls waiting now, per model."""
        with self._lock:
            return Counter(w.group for w in self.waiters)

    def interactive_waiting(self, group: str) -> bool:
        """True when an interactive call (or an aged batch one) of ``group`` waits."""
        if not self.waiters:  # the common case: no lock taken
            return False
        with self._lock:
            now = self.clock()
            return any(w.group == group and not self.band(w, now) for w in self.waiters)

    def bands(self) -> Counter:
        """Calls waiting now, per (model, band they wait in now: 0 or 1)."""
        with self._lock:
            now = self.clock()
            return Counter((w.group, self.band(w, now)) for w in self.waiters)

    def summary(self) -> dict:
        """The queue now, as ``/api/ps`` shows it (``waiter.summary_of``)."""
        return summary_of(self.bands())

    def held(self) -> tuple[int, int]:
        """Calls waiting now, and the bytes their bodies hold (estimated)."""
        with self._lock:
            return len(self.waiters), sum(w.size for w in self.waiters)
