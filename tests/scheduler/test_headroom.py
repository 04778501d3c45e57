"""The queue's headroom (``QUEUE_HEADROOM``): an owner that already runs a call may
not take the last slots of a backend's model, so a newcomer starts at once beside a
flood; in one worker's queue and in the cluster's (Redis) alike."""

from __future__ import annotations

import threading

import pytest

from ollama_gate.scheduler.bounds import Bounds
from ollama_gate.scheduler.headroom import cap
from ollama_gate.scheduler.queue import FairQueue
from ollama_gate.scheduler.waiter import ClientGone, Waiter
from ollama_gate.shared.slots import MemorySlots
from tests.scheduler.cluster_parts import (
    call,
    give,
    prefix,  # noqa: F401 - a fixture
    take,
    wait_for,
    waiting,
    worker,
)

BIG = Bounds(1000, 1000, 1000, 10**9, 10**9)


def no() -> bool:
    return False


def test_the_cap_keeps_one_slot_for_anyone():
    assert cap(4, 1, 0) == 4  # nothing running: every slot
    assert cap(4, 1, 3) == 3
    assert cap(4, 0, 3) == 4  # off
    assert cap(2, 5, 1) == 1  # never below one slot
    assert cap(1, 1, 1) == 1  # --parallel 1: no headroom


def one_worker(headroom: int):
    queue = FairQueue(BIG, 30, headroom=headroom)
    return queue, MemorySlots()


def fq_take(queue, slots, owner, limit=2, key="gpu1|m"):
    token = queue.take(slots, key, limit, owner, 1, "m", None)
    if token is not None:
        queue.started(owner, 1)
    return token


def test_a_busy_owner_leaves_the_last_slot_to_a_newcomer_in_one_worker():
    queue, slots = one_worker(headroom=1)
    assert fq_take(queue, slots, "flood") is not None
    assert fq_take(queue, slots, "flood") is None  # the last slot is kept
    assert fq_take(queue, slots, "quiet") is not None  # ... for this one
    assert fq_take(queue, slots, "other") is None  # full now


def test_without_headroom_the_flood_takes_every_slot():
    queue, slots = one_worker(headroom=0)
    assert fq_take(queue, slots, "flood") is not None
    assert fq_take(queue, slots, "flood") is not None
    assert fq_take(queue, slots, "quiet") is None


def test_a_busy_owner_still_gets_a_backend_of_one_slot():
    queue, slots = one_worker(headroom=1)
    assert fq_take(queue, slots, "flood", key="gpu1|m") is not None
    assert fq_take(queue, slots, "flood", limit=1, key="gpu2|m") is not None


def test_a_waiting_flood_call_is_granted_once_its_owner_runs_less():
    queue, slots = one_worker(headroom=1)
    first = fq_take(queue, slots, "flood")
    got: list = []
    me = Waiter("flood", "m", key="flood", user="flood")

    def wait():  # the waiter takes through the queue, as the scheduler does
        got.append(queue.wait(me, lambda w: fq_take(queue, slots, "flood"), no))

    t = threading.Thread(target=wait)
    t.start()
    assert wait_for(lambda: queue.held()[0] == 1)
    assert fq_take(queue, slots, "quiet") is not None  # at once, beside the waiter
    assert queue.held()[0] == 1 and not got  # the flood still waits
    slots.release("gpu1|m", first)
    queue.ended("flood")  # its owner runs none now: a slot of any two is its own
    t.join(10)
    assert got and got[0] is not None


needs_redis = pytest.mark.needs_redis


@needs_redis
def test_a_busy_owner_leaves_the_last_slot_to_a_newcomer_across_workers(prefix):  # noqa: F811
    a, b = worker(prefix, "a", headroom=1), worker(prefix, "b", headroom=1)
    assert take(a, "flood", limit=2) is not None
    assert take(b, "flood", limit=2) is None  # the cluster counts its running call
    assert take(b, "quiet", limit=2) is not None
    assert take(a, "other", limit=2) is None


@needs_redis
def test_without_headroom_the_cluster_gives_the_flood_every_slot(prefix):  # noqa: F811
    a, b = worker(prefix, "a"), worker(prefix, "b")
    assert take(a, "flood", limit=2) is not None
    assert take(b, "flood", limit=2) is not None
    assert take(b, "quiet", limit=2) is None


@needs_redis
def test_a_newcomer_passes_the_flood_waiting_in_the_cluster_line(prefix):  # noqa: F811
    a, b = worker(prefix, "a", headroom=1), worker(prefix, "b", headroom=1)
    first = take(a, "flood", limit=2)
    got: list = []
    t = threading.Thread(target=lambda: got.append(call(a, "flood", limit=2)))
    t.start()
    assert wait_for(lambda: waiting(a, "flood") == 1)
    quiet = call(b, "quiet", limit=2)  # the slot flood's waiter may not take
    assert quiet is not None and not got and waiting(b, "flood") == 1
    assert b.queue.tries == {"pushed": 0, "safety": 0, "first": 0}  # never waited
    give(a, first, "flood")  # flood runs none: it may take either slot
    t.join(10)
    assert got and got[0] is not None
    give(b, quiet, "quiet"), give(a, got[0], "flood")


@needs_redis
def test_a_newcomer_waits_its_turn_when_the_first_in_line_may_take_the_slot(prefix):  # noqa: F811
    a, b = worker(prefix, "a", headroom=1), worker(prefix, "b", headroom=1)
    first = take(a, "flood", limit=3)
    second = take(a, "flood", limit=3)  # 2 of 3: the last one kept
    got: list = []
    t = threading.Thread(target=lambda: got.append(call(a, "flood", limit=3)))
    t.start()
    assert wait_for(lambda: waiting(a, "flood") == 1)
    give(a, first, "flood")  # 1 of 3 running: the waiting flood call may take one
    t.join(10)
    assert got and got[0] is not None
    assert take(b, "quiet", limit=3) is not None  # the kept one is still free
    give(a, second, "flood"), give(a, got[0], "flood")


@needs_redis
def test_a_newcomer_does_not_pass_a_waiter_that_runs_nothing(prefix):  # noqa: F811
    a, b = worker(prefix, "a", headroom=1), worker(prefix, "b", headroom=1)
    flood, other = take(a, "flood", limit=2), take(a, "x", limit=2)  # full
    threads = [
        threading.Thread(target=lambda: call(b, "idle", band=1, limit=2)),
        threading.Thread(target=lambda: call(a, "flood", limit=2)),
    ]
    for n, t in enumerate(threads, 1):
        t.start()
        assert wait_for(lambda n=n: waiting(a) == n)
    give(a, other, "x")  # free, but kept from flood's call, first in line
    assert take(b, "quiet", limit=2) is None  # "idle" waits for it too: in line
    give(a, flood, "flood")
    for t in threads:
        t.join(10)


@needs_redis
def test_beside_a_line_a_newcomer_takes_only_what_is_its_turn(prefix):  # noqa: F811
    a, b = worker(prefix, "a", headroom=1), worker(prefix, "b", headroom=1)
    x, s = take(a, "x", limit=4), take(a, "s", limit=4)  # 2 of 4 busy
    gone = threading.Event()
    stuck = Waiter("s", "m", key="s", user="s")  # first in line, never takes

    def wait() -> None:
        try:
            b.queue.wait(stuck, lambda w: None, gone.is_set)
        except ClientGone:
            pass

    t = threading.Thread(target=wait)
    t.start()
    assert wait_for(lambda: waiting(a) == 1)
    # s runs one: its waiter may take a third slot, and it is interactive
    assert take(b, "batch", limit=4, band=1) is None
    quiet = take(b, "quiet", limit=4)  # runs nothing, interactive: first in order
    assert quiet is not None
    kept = take(b, "batch", limit=4, band=1)  # the kept slot, which s may not take
    assert kept is not None
    gone.set()
    t.join(10)
    for token, owner in ((x, "x"), (s, "s"), (quiet, "quiet"), (kept, "batch")):
        give(a, token, owner)
