"""Fewer model swaps across workers (issue 28): with Redis, what a backend that holds
one model holds and runs is shared, so the line grants calls of the held model first
whichever worker they wait in, no call passed over past ``SWAP_MAX_PASS``; a call
that needs no queue still pays one round trip for its slot."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest
import redis

from ollama_gate.scheduler.cluster_rooms import SharedRooms
from ollama_gate.scheduler.waiter import Waiter
from tests.scheduler.cluster_parts import (
    TEST_REDIS,
    prefix,  # noqa: F401 - a fixture
    wait_for,
    waiting,
    worker,
)

pytestmark = pytest.mark.needs_redis


def gpu(loaded=(), read_ago=None):
    """A backend holding one model at once; ``loaded``: its /api/ps, read
    ``read_ago`` seconds ago (None: never read)."""
    return SimpleNamespace(
        name="gpu1",
        config=SimpleNamespace(max_loaded=1, parallel=1),
        loaded={m: {} for m in loaded},
        checked_at=0.0 if read_ago is None else time.monotonic() - read_ago,
    )


def room_worker(prefix, name, max_pass=30.0):  # noqa: F811
    return worker(prefix, name, rooms=SharedRooms(), max_pass=max_pass)


def take(w, state, model, owner, waiter=None, limit=1):
    key = f"{state.name}|{model}"
    return w.queue.take(w.slots, key, limit, owner, 1, model, waiter, state)


def give(w, state, model, token, owner):
    w.queue.give(w.slots, f"{state.name}|{model}", token, owner, model)


def call(w, state, model, owner):
    token = take(w, state, model, owner)
    if token is not None:
        return token
    me = Waiter(owner, model, 1, key=owner, user=owner, rooms=(state,))
    return w.queue.wait(me, lambda me: take(w, state, model, owner, me), lambda: 0)


def room(w, state) -> tuple[list, int]:
    """What the backend holds, and the swaps the gateway started there."""
    p = w.queue.prefix
    held = [m.decode() for m in w.client.zrange(f"{p}:held:{state.name}", 0, -1)]
    return held, int(w.client.hget(f"{p}:swaps", state.name) or 0)


def run_trace(prefix, max_pass) -> tuple[str, int]:  # noqa: F811
    """A runs in worker a; then B A A C A B C wait, every other one in worker b,
    each in the line before the next comes; each gives its slot back when granted.
    The grant order, and the swaps."""
    a, b = room_worker(prefix, "a", max_pass), room_worker(prefix, "b", max_pass)
    state = gpu()
    held = take(a, state, "A", "first")
    assert held is not None
    order, errors, threads = [], [], []
    lock = threading.Lock()

    def run(w, model, owner):
        try:
            token = call(w, state, model, owner)
        except Exception as exc:  # noqa: BLE001 - the test reads it
            errors.append(exc)
            return
        with lock:
            order.append(model)
            give(w, state, model, token, owner)

    for i, model in enumerate("BAACABC"):
        w = (a, b)[i % 2]
        t = threading.Thread(target=run, args=(w, model, f"o{i}"))
        t.start()
        threads.append(t)
        assert wait_for(lambda n=i + 1: waiting(a) >= n or errors)
    give(a, state, "A", held, "first")
    for t in threads:
        t.join(20)
    assert not errors and len(order) == 7
    # each was woken by a push (a give, a leave), not its own late look
    assert a.queue.tries["safety"] == b.queue.tries["safety"] == 0
    return "".join(order), room(a, state)[1]


def test_held_models_go_first_across_workers(prefix):  # noqa: F811
    order, swaps = run_trace(prefix, 30)
    assert order == "AAABBCC" and swaps == 2  # arrival order swaps 6 times


def test_with_no_pass_the_cluster_keeps_arrival_order(prefix):  # noqa: F811
    order, swaps = run_trace(prefix, 0)
    assert order == "BAACABC" and swaps == 6


def test_another_workers_call_waits_while_the_held_model_runs(prefix):  # noqa: F811
    a, b = room_worker(prefix, "a"), room_worker(prefix, "b")
    state = gpu()
    held = take(a, state, "A", "x")
    assert take(b, state, "B", "y") is None  # it would swap A out under a's call
    late = room_worker(prefix, "late", max_pass=0)  # B waits past SWAP_MAX_PASS
    done = []
    t = threading.Thread(target=lambda: done.append(call(b, state, "B", "y")))
    t.start()
    assert wait_for(lambda: waiting(a) == 1)
    # a call of the held model that did not wait starts before B's (not overdue
    # under a's bound), not once B was passed over too long (late's bound: 0)
    extra = take(a, state, "A", "z", limit=2)  # two calls of A at once
    assert extra is not None
    give(a, state, "A", extra, "z")
    assert take(late, state, "A", "z", limit=2) is None
    give(a, state, "A", held, "x")
    t.join(10)
    assert done and room(a, state) == (["B"], 1)


def test_the_room_follows_ps_unless_the_read_predates_a_swap(prefix):  # noqa: F811
    a, b = room_worker(prefix, "a"), room_worker(prefix, "b")
    token = take(a, gpu(loaded=["A"], read_ago=0), "A", "x")
    give(a, gpu(), "A", token, "x")
    assert room(a, gpu()) == (["A"], 0)  # ps said A: no swap for it
    token = take(a, gpu(), "B", "x")
    give(a, gpu(), "B", token, "x")
    assert room(a, gpu()) == (["B"], 1)  # A swapped out for B
    # b read ps (A loaded) before that swap: its read leaves B in the room
    token = take(b, gpu(loaded=["A"], read_ago=30), "B", "y")
    give(b, gpu(), "B", token, "y")
    assert room(a, gpu()) == (["B"], 1)
    # a read after it: Ollama unloaded B and loaded C itself
    time.sleep(0.01)
    token = take(b, gpu(loaded=["C"], read_ago=0), "C", "y")
    give(b, gpu(), "C", token, "y")
    assert room(a, gpu()) == (["C"], 1)


def test_a_call_on_a_capped_backend_pays_no_extra_round_trip(prefix):  # noqa: F811
    a = room_worker(prefix, "a")
    state = gpu(loaded=["A"], read_ago=0)
    give(a, state, "A", take(a, state, "A", "warm"), "warm")  # scripts loaded
    state.checked_at = time.monotonic()  # a new read of ps rides along
    before = a.client.sent
    give(a, state, "B", take(a, state, "B", "k"), "k")
    assert a.client.sent - before == 2 and room(a, state) == (["B"], 1)


def test_a_dead_workers_call_leaves_its_room(prefix):  # noqa: F811
    a = room_worker(prefix, "a")
    dead = room_worker(prefix, "dead")
    state = gpu()
    assert take(dead, state, "A", "x") is not None
    assert take(a, state, "B", "y") is None  # A runs
    r = redis.Redis.from_url(TEST_REDIS)
    r.zadd(f"{prefix}:queue:workers", {"dead": 0})  # silent for long
    assert a.queue.beat() == ["dead"]
    assert take(a, state, "B", "y") is not None  # A is idle now: swapped out


def test_two_backends_choosing_differently_do_not_wake_each_other(prefix):  # noqa: F811
    """gpu1 runs A, gpu2 runs B; a call of each waits, either backend will do. On
    the other's backend each is not chosen (the held model goes first): that must
    not wake the other's waiter, which would wake it back, round and round."""
    a, b = room_worker(prefix, "a"), room_worker(prefix, "b")
    one, two = gpu(), gpu()
    two.name = "gpu2"
    held = [take(a, one, "A", "x"), take(a, two, "B", "y")]
    assert None not in held

    def wait(w, model, owner):
        def look(me):
            return take(w, one, model, owner, me) or take(w, two, model, owner, me)

        me = Waiter(owner, model, 1, key=owner, user=owner, rooms=(one, two))
        return w.queue.wait(me, look, lambda: 0)

    done = []
    threads = [
        threading.Thread(target=lambda: done.append(wait(a, "A", "p"))),
        threading.Thread(target=lambda: done.append(wait(b, "B", "q"))),
    ]
    for n, t in enumerate(threads, 1):
        t.start()
        assert wait_for(lambda n=n: waiting(a) == n)
    time.sleep(0.5)
    assert a.queue.wakes.pushed + b.queue.wakes.pushed <= 2  # no wake-up storm
    give(a, one, "A", held[0], "x")
    give(a, two, "B", held[1], "y")
    for t in threads:
        t.join(10)
    assert len(done) == 2
