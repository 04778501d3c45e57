"""The scheduler: slots per backend and model, the fair queue when every candidate
is full, and conversation affinity.

``grants`` hands the routing stage its candidates one at a time, each with a slot
taken for the call: on a backend with ``parallel`` N, at most N calls of one model
run at once (counted exactly across workers with Redis); without it, the slot only
counts. When every candidate left is full, the call waits in the ``FairQueue`` (one
worker's) or, with Redis, the ``ClusterQueue`` (the whole gateway's).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from flask import request

from ..call import Call
from ..events.producers import queue_waited
from ..metrics.registry import PREFIX_WAITS
from ..model_names import canonical
from ..server.peer import closed
from ..subjects import chain_value, levels_of, setting_levels
from .affinity import SESSION_HEADER, conversation
from .bands import band_of
from .holds import Holds
from .queue import ClientGone, FairQueue, Waiter
from .rooms import Rooms

SLOT = "scheduler.slot"  # call.extra: (slot key, token, owner, model group)
ROOM = "scheduler.room"  # call.extra: (backend state, model) counted in its room
CONVERSATION = "scheduler.conversation"  # call.extra: the conversation's name
BAND = "scheduler.band"  # call.extra: the call's priority band (``bands``)
UNCAPPED = 10**9
QUEUE_MS_HEADER = (
    "X-Ollama-Gate-Queue-Ms"  # a call that waited: how long, on its answer
)


class Scheduler:
    """Slots, queue and affinity of one worker (slots shared through Redis)."""

    def __init__(self, slots, queue: FairQueue, affinity, fair_by: str, rooms=None):
        # queue: a FairQueue or a cluster.ClusterQueue (the same interface)
        self.slots = slots  # shared.slots' Memory/RedisSlots, keyed by text
        self.queue = queue
        self.rooms = rooms or Rooms()  # the models each backend holds (swaps)
        self.affinity = affinity  # None when AFFINITY_SECONDS is 0
        self.fair_by = fair_by
        self.holds = Holds()  # calls waiting a little for their prompt's home

    @staticmethod
    def slot_key(backend: str, model: str | None) -> str:
        """The slots of one model on one backend."""
        return f"{backend}|{canonical(model) if model else '-'}"

    def owner(self, call: Call):
        """Whose share a call counts against: the person's behind an app key (the
        chain's first level), else its key's, or its user's (``FAIR_BY``)."""
        levels = call.levels
        if levels and levels[0].subject.kind == "end_user":
            return levels[0].subject.ref  # people share, not the app they use
        ident = call.identity
        return ident.user_id if self.fair_by == "user" else ident.key_id

    def running(self, backend: str, model: str | None) -> int:
        """Calls of ``model`` running on ``backend`` now (every worker with Redis)."""
        return self.slots.in_flight(self.slot_key(backend, model))

    # -- affinity ----------------------------------------------------------------

    def prefer(self, call: Call, candidates: list) -> list:
        """The candidates with the backend of the conversation's last turn first."""
        if self.affinity is None:
            return candidates
        session = call.request_headers.get(SESSION_HEADER) or call.conversation
        name = conversation(call, session)
        if name is None:
            return candidates
        call.extra[CONVERSATION] = name
        last = call.last_backend = self.affinity.get(name)
        if last is None:
            return candidates
        first = [c for c in candidates if c.name == last]
        return first + [c for c in candidates if c.name != last]

    def remember(self, call: Call) -> None:
        """After a good turn: its backend serves the conversation's next one."""
        name = call.extra.get(CONVERSATION)
        if name and call.backend and call.status == 200 and self.affinity is not None:
            self.affinity.put(name, call.backend)

    # -- slots and the queue -----------------------------------------------------

    def try_slot(self, call: Call, state, model: str | None, waiter=None) -> bool:
        """Take a slot for ``call`` on ``state`` if one is free (``waiter``: the
        call's place in the queue, whose turn it uses)."""
        key = self.slot_key(state.name, model)
        group = canonical(model) if model else "-"
        if waiter is None and self.queue.passes_over(state, group):
            return False  # a call waiting to swap its model in goes first
        owner, weight = self.owner(call), weight_of(call)
        limit = state.config.parallel or UNCAPPED
        # the cluster queue's take is one Redis script: the slot, and no call of
        # the model waiting, and the owner's running count and turn
        # (and, with Redis, the room: its model held, its turn among the models)
        band = call.extra.get(BAND, 0)  # the cluster's headroom reads it
        token = self.queue.take(
            self.slots, key, limit, owner, weight, group, waiter, state, band
        )
        if token is None:
            return False
        if not self.rooms.enter(state, group):  # it would swap out a busy model
            self.queue.untake(self.slots, key, token, owner, group, waiter)
            return False
        call.extra[ROOM] = (state, group)
        call.extra[SLOT] = (key, token, owner, group)
        self.queue.started(owner, weight, waiter)
        return True

    def grants(
        self, call: Call, candidates: list, model: str | None, size: int = 0
    ) -> Iterator:
        """Each candidate in turn, with a slot held; waits when all are full
        (``size``: the bytes the call's body holds meanwhile, ``bounds.held_bytes``).

        The caller gives the slot back (``give_back``) before asking for the next.
        """
        left = list(candidates)
        ident = call.identity
        band = band_of(call)  # a bad priority header: 400 before anything is held
        call.extra[BAND] = band
        group = canonical(model) if model else "-"
        held = self.hold(call, left, model, group)
        if held is not None:
            left.remove(held)
            yield held
        while left:
            state = None
            if not (band and self.queue.interactive_waiting(group)):
                # batch takes idle capacity, never a slot an interactive call awaits
                state = next((s for s in left if self.try_slot(call, s, model)), None)
            if state is None:
                began = time.monotonic()
                owner = self.owner(call)
                state = self.queue.wait(
                    Waiter(
                        owner,
                        canonical(model) if model else "-",
                        weight_of(call),
                        # a person behind an app key is bounded as a key is (their
                        # flood fills their share, not the app's); the app's user
                        # still bounds them all together
                        key=owner if isinstance(owner, str) else ident.key_id,
                        user=ident.user_id,
                        size=size,
                        rooms=self.rooms.capped(left),
                        band=band,
                        **caps_of(call),
                    ),
                    lambda me: next(
                        (s for s in left if self.try_slot(call, s, model, me)), None
                    ),
                    client_gone,
                )
                waited = (call.queue_wait or 0.0) + time.monotonic() - began
                call.queue_wait = waited  # history keeps it
                call.answer_headers[QUEUE_MS_HEADER] = str(round(waited * 1000))
                queue_waited(model, time.monotonic() - began)  # an event if long
            left.remove(state)
            yield state

    def hold(self, call: Call, left: list, model: str | None, group: str):
        """The backend the routing stage asked the call to wait for
        (``call.home_hold``), with a slot held, if one freed in time; else None (the
        others' turn)."""
        hold, call.home_hold = call.home_hold, None
        if hold is None or hold[0] not in left:
            return None
        state, seconds = hold

        def queued() -> bool:  # calls of the model in the queue: every slot is
            return self.queue.interactive_waiting(group)  # full, theirs the order

        if queued():
            return None
        if self.try_slot(call, state, model):
            return state  # it freed already: no wait
        began = time.monotonic()
        got = self.holds.hold(
            self.slot_key(state.name, model),
            seconds,
            lambda: self.try_slot(call, state, model),
            queued,
        )
        waited = time.monotonic() - began
        call.queue_wait = (call.queue_wait or 0.0) + waited
        call.answer_headers[QUEUE_MS_HEADER] = str(round(call.queue_wait * 1000))
        PREFIX_WAITS.labels(outcome="home" if got else "elsewhere").inc()
        return state if got else None

    def give_back(self, call: Call) -> None:
        """Free the call's slot (its last byte, a failure, or a move to another)."""
        room = call.extra.pop(ROOM, None)
        if room is not None:
            self.rooms.leave(*room)
        slot = call.extra.pop(SLOT, None)
        if slot is not None:
            self.queue.give(self.slots, *slot)
            self.holds.wake(slot[0])  # a call holding for this slot takes it


def weight_of(call: Call) -> int:
    """The call's share of slots: the most specific level's queue weight, else 1."""
    return max(1, int(chain_value(call, "queue_weight", 1)))


def caps_of(call: Call) -> dict:
    """A waiter's chain: the refs of its levels (what each cap counts) and the
    caps (``queue_max``) its levels set."""
    levels = levels_of(call)
    return {
        "subjects": frozenset(lv.subject.ref for lv in levels),
        "caps": tuple(
            (lv.subject.ref, lv.get("queue_max"), lv.subject.phrase)
            for lv in setting_levels(levels, "queue_max")
        ),
    }


def client_gone() -> bool:
    """True when the waiting call's client has closed its connection (whatever it
    left unread)."""
    sock = request.environ.get("gunicorn.sock")
    return sock is not None and closed(sock)


__all__ = ["ClientGone", "Scheduler"]
