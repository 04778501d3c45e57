"""The cluster queue across two workers sharing Redis: one fair order (weights, bands,
aging), wake-ups pushed from the worker that frees a slot, and a call that needs no
queue paying no Redis round trip more than the slot alone."""

from __future__ import annotations

import time

import pytest

from ollama_gate.scheduler.waiter import Waiter
from tests.scheduler.cluster_parts import (
    give,
    prefix,  # noqa: F401 - a fixture
    queue_in_turn,
    take,
    wait_for,
    waiting,
    worker,
)

pytestmark = pytest.mark.needs_redis


def test_weights_two_to_one_hold_across_two_workers(prefix):  # noqa: F811
    a, b = worker(prefix, "a"), worker(prefix, "b")
    held = take(a, "x")  # the one slot is busy: everyone below waits
    assert held is not None
    calls = [(a, "flood", {"weight": 2})] * 6 + [(b, "quiet", {"weight": 1})] * 3
    order, threads, errors = queue_in_turn(calls)
    give(a, held, "x")
    for t in threads:
        t.join(20)
    assert not errors
    # start-time fair turns: flood's every half turn, quiet's every turn, all from 0
    short = "".join(o[0] for o in order)
    assert short == "fqffqffqf"
    assert short[:6].count("f") == 2 * short[:6].count("q")


def test_interactive_goes_before_batch_from_another_worker(prefix):  # noqa: F811
    a, b = worker(prefix, "a"), worker(prefix, "b")
    held = take(a, "x")
    calls = [(a, "b1", {"band": 1}), (a, "b2", {"band": 1})]
    calls += [(b, "i1", {}), (b, "i2", {})]
    order, threads, errors = queue_in_turn(calls)
    give(a, held, "x")
    for t in threads:
        t.join(20)
    assert not errors and order == ["i1", "i2", "b1", "b2"]


def test_batch_is_not_starved_past_its_bound(prefix):  # noqa: F811
    a = worker(prefix, "a", batch_max_wait=0.3)
    b = worker(prefix, "b", batch_max_wait=0.3)
    held = take(a, "x")
    order, threads, errors = queue_in_turn([(a, "old-batch", {"band": 1})])
    time.sleep(0.4)  # it waited past BATCH_MAX_WAIT: it counts as interactive now
    more, threads2, errors2 = queue_in_turn([(b, "i1", {}), (b, "i2", {})])
    assert b.queue.summary()["models"] == [{"model": "m", "interactive": 3, "batch": 0}]
    give(a, held, "x")
    for t in threads + threads2:
        t.join(20)
    assert not errors and not errors2
    assert order + more == ["old-batch", "i1", "i2"]  # one list: the grant order


def test_a_slot_freed_in_one_worker_wakes_a_waiter_in_the_other(prefix):  # noqa: F811
    a, b = worker(prefix, "a"), worker(prefix, "b")
    held = take(a, "x")
    order, threads, errors = queue_in_turn([(b, "y", {})])
    assert b.queue.tries == {"pushed": 0, "safety": 0, "first": 1}  # it looked once
    give(a, held, "x")
    threads[0].join(10)
    assert order == ["y"] and not errors
    # granted on the message a's give published: no look of its own, no poll
    assert b.queue.tries == {"pushed": 1, "safety": 0, "first": 1}
    assert b.queue.grants == {"pushed": 1, "safety": 0, "first": 0}
    assert b.queue.wakes.pushed == 1


def test_a_call_that_needs_no_queue_pays_no_extra_round_trip(prefix):  # noqa: F811
    a = worker(prefix, "a")
    give(a, take(a, "warm"), "warm")  # the worker's first beat and script loads
    before = a.client.sent
    token = take(a, "k")
    give(a, token, "k")
    # the slot's acquire and its release, as RedisSlots alone sends: the line's
    # check, the owner's count and its turn ride in the same two scripts
    assert a.client.sent - before == 2
    plain = a.slots.client.sent
    t = a.slots.acquire(KEY_ALONE, 1)
    a.slots.release(KEY_ALONE, t)
    assert a.slots.client.sent - plain == 2


KEY_ALONE = "gpu9|m"


def test_a_waiter_whose_client_leaves_is_removed(prefix):  # noqa: F811
    a, b = worker(prefix, "a"), worker(prefix, "b")
    held = take(a, "x")
    gone = []
    order, threads, errors = queue_in_turn([(b, "y", {"gone": lambda: bool(gone)})])
    gone.append(True)
    threads[0].join(10)
    assert [type(e).__name__ for e in errors] == ["ClientGone"]
    assert waiting(a) == 0
    give(a, held, "x")
    assert take(b, "z") is not None  # the line is empty: a new call takes the slot


def test_a_call_that_does_not_wait_goes_behind_the_line(prefix):  # noqa: F811
    a, b = worker(prefix, "a"), worker(prefix, "b")
    held = take(a, "x", limit=2)
    order, threads, errors = queue_in_turn([(b, "y", {"limit": 1})])
    # a slot is free for limit 2, but y waits for model m: the newcomer may not jump
    assert take(a, "z", limit=2) is None
    give(a, held, "x")
    threads[0].join(10)
    assert order == ["y"] and wait_for(lambda: waiting(a) == 0)


def test_a_waiter_whose_leave_was_lost_does_not_block_the_line(prefix):  # noqa: F811
    a, b = worker(prefix, "a"), worker(prefix, "b")
    held = take(a, "x")
    ghost = Waiter("ghost", "m", key="ghost", user="ghost")
    ghost.id = f"{b.queue.here()}:ghost"
    b.queue.wakes.ensure()
    assert b.queue._join_line(ghost)  # in Redis' line, but no call of b waits on it
    order, threads, errors = queue_in_turn([(a, "real", {})])
    give(a, held, "x")  # wakes the ghost first: b takes it out, the next goes
    threads[0].join(10)
    assert order == ["real"] and not errors and waiting(a) == 0


def test_a_call_refused_while_a_slot_is_free_wakes_the_first(prefix):  # noqa: F811
    """The first in line may not know it is first (a batch call aged into the
    interactive band, another owner's running count fell): a call refused for its
    sake while a slot is free wakes it, instead of leaving the slot to its 1.5 s
    look."""
    a, b = worker(prefix, "a"), worker(prefix, "b")
    first, second = Waiter("f", "m"), Waiter("s", "m")
    first.id, second.id = f"{b.queue.here()}:f", f"{a.queue.here()}:s"
    for w, me in ((b, first), (a, second)):
        w.queue.wakes.ensure()
        w.queue.wakes.add(me)
    assert b.queue._join_line(first) and not a.queue._join_line(second)
    assert take(a, "s", waiter=second) is None  # not first: -3, and a slot is free
    assert wait_for(first.wake.is_set)
    first.wake.clear()
    assert take(a, "n") is None  # a call that did not wait: -1, a slot is free
    assert wait_for(first.wake.is_set)
    assert not second.wake.is_set()
    held = take(b, "f", waiter=first)
    first.wake.clear()
    assert held is not None
    assert take(a, "n") is None  # no slot free: nobody is woken for nothing
    assert not wait_for(first.wake.is_set, 0.3)
