"""The headroom, the hand-off and the shared rooms in one take script (the merge of
the two branches): a slot's record carries both the room and the headroom, the give
reads both, and the room's order still holds beside the headroom."""

from __future__ import annotations

import json
import threading

import pytest

from ollama_gate.scheduler.cluster_rooms import SharedRooms
from tests.scheduler.cluster_parts import (
    prefix,  # noqa: F401 - a fixture
    wait_for,
    waiting,
    worker,
)
from tests.scheduler.test_cluster_swaps import call, give, gpu, take

pytestmark = pytest.mark.needs_redis


def both(prefix, name):  # noqa: F811
    return worker(prefix, name, rooms=SharedRooms(), headroom=1)


def records(w) -> list:
    raw = w.client.hvals(f"{w.queue.prefix}:ws:{w.name}")
    return [json.loads(r) for r in raw]


def running(w, state) -> dict:
    got = w.client.hgetall(f"{w.queue.prefix}:rr:{state.name}")
    return {k.decode(): int(v) for k, v in got.items()}


def test_the_headroom_keeps_a_slot_and_the_room_counts_it(prefix):  # noqa: F811
    a = both(prefix, "a")
    state = gpu()
    first = take(a, state, "A", "flood", limit=2)
    assert first is not None
    assert take(a, state, "A", "flood", limit=2) is None  # the last slot is kept
    quiet = take(a, state, "A", "quiet", limit=2)
    assert quiet is not None  # a newcomer takes it
    key = a.slots.redis_key("gpu1|A")
    assert sorted(map(tuple, records(a))) == sorted(
        [(key, '"flood"', "A", "gpu1", 2, 1), (key, '"quiet"', "A", "gpu1", 2, 1)]
    )
    assert running(a, state) == {"A": 2}
    give(a, state, "A", first, "flood")
    give(a, state, "A", quiet, "quiet")
    assert running(a, state) == {} and records(a) == []


def test_a_newcomer_beside_the_line_still_waits_for_the_rooms_order(prefix):  # noqa: F811
    a = both(prefix, "a")
    state = gpu()
    held = take(a, state, "A", "x", limit=2)
    # another model's call: its owner runs nothing, yet B would swap A out under x
    assert take(a, state, "B", "newcomer", limit=2) is None
    assert running(a, state) == {"A": 1}
    give(a, state, "A", held, "x")


def test_a_hand_off_in_a_room_is_timed_and_counted_there(prefix):  # noqa: F811
    a, b = both(prefix, "a"), both(prefix, "b")
    state = gpu()
    held = take(a, state, "A", "x")
    got: list = []
    t = threading.Thread(target=lambda: got.append(call(b, state, "A", "y")))
    t.start()
    assert wait_for(lambda: waiting(a, "y") == 1)
    give(a, state, "A", held, "x")
    t.join(10)
    assert got and got[0] is not None
    ((seconds, same),) = b.queue.handoffs
    assert seconds >= 0 and same is False  # freed by a, granted in b
    assert running(b, state) == {"A": 1}  # the room counts the waiter's call
    give(b, state, "A", got[0], "y")
    assert running(b, state) == {}
