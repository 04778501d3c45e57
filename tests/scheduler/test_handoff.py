"""The hand-off (``ollama_gate_queue_handoff_seconds``): from a slot given back while
calls wait to the next waiting call granted it, on Redis' clock, measured inside the
two scripts (no round trip more), labelled by whether one worker did both."""

from __future__ import annotations

import threading

import pytest

from ollama_gate.scheduler.waiter import ClientGone, Waiter
from tests.scheduler.cluster_parts import (
    KEY,
    call,
    give,
    prefix,  # noqa: F401 - a fixture
    take,
    wait_for,
    waiting,
    worker,
)

pytestmark = pytest.mark.needs_redis


class Seen:
    """An observer that keeps the hand-offs it is told of."""

    def __init__(self):
        self.handoffs: list[tuple[float, bool]] = []

    def waiting(self, model, delta) -> None:
        pass

    def waited(self, seconds) -> None:
        pass

    def handoff(self, seconds, same) -> None:
        self.handoffs.append((seconds, same))


def granted_after_give(holder, waiter_side):
    """``holder`` holds the one slot, ``waiter_side``'s call waits, the slot is
    given back: the waiting call's token."""
    held = take(holder, "x")
    got: list = []
    t = threading.Thread(target=lambda: got.append(call(waiter_side, "y")))
    t.start()
    assert wait_for(lambda: waiting(holder, "y") == 1)
    give(holder, held, "x")
    t.join(10)
    assert got and got[0] is not None
    return got[0]


def test_a_slot_freed_on_one_worker_and_taken_on_another_is_timed(prefix):  # noqa: F811
    a, b = worker(prefix, "a"), worker(prefix, "b")
    b.queue.observer = seen = Seen()
    give(b, granted_after_give(a, b), "y")
    ((seconds, same),) = b.queue.handoffs
    assert not same and 0 <= seconds < 10
    assert seen.handoffs == [(seconds, False)]
    assert not a.queue.handoffs  # the worker that freed it took nothing


def test_a_slot_freed_and_taken_on_one_worker_says_same(prefix):  # noqa: F811
    a = worker(prefix, "a")
    give(a, granted_after_give(a, a), "y")
    ((seconds, same),) = a.queue.handoffs
    assert same and seconds >= 0


def test_calls_that_wait_for_nothing_time_nothing(prefix):  # noqa: F811
    a, b = worker(prefix, "a"), worker(prefix, "b")
    for w in (a, b, a):
        give(w, take(w, "x"), "x")
    assert not a.queue.handoffs and not b.queue.handoffs
    assert not list(a.client.scan_iter(f"{prefix}:queue:freed:*"))


def test_a_slot_freed_for_a_waiter_that_left_is_not_paired_later(prefix):  # noqa: F811
    a, b = worker(prefix, "a"), worker(prefix, "b")
    held = take(a, "x")
    gone = threading.Event()
    errors: list = []
    me = Waiter("y", "m", key="y", user="y")

    def leaves():  # first in line, it never takes (say its rooms refuse)
        try:
            b.queue.wait(me, lambda w: None, gone.is_set)
        except Exception as exc:  # noqa: BLE001 - ClientGone, read below
            errors.append(exc)

    t = threading.Thread(target=leaves)
    t.start()
    assert wait_for(lambda: waiting(a, "y") == 1)
    give(a, held, "x")  # freed for y: noted
    freed = f"{prefix}:queue:freed:{a.slots.redis_key(KEY)}"
    assert a.client.llen(freed) == 1
    gone.set()
    t.join(10)
    assert isinstance(errors[0], ClientGone) and waiting(a) == 0
    give(a, take(a, "z"), "z")  # a call that needs no queue: the note is stale
    assert not a.client.exists(freed)
    give(a, granted_after_give(a, b), "y")  # the next hand-off is its own
    assert len(b.queue.handoffs) == 1
