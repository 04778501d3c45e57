"""Fewer model swaps: a backend's model room (what it holds, what it learned from
``/api/ps``), the queue's order across models (held models first, no call passed
over past ``SWAP_MAX_PASS``) on a simulated clock, and through the app on a fake
GPU that holds one model: the trace A B A A C A B C swaps twice, not six times."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from ollama_gate.routing.manage import set_backend
from ollama_gate.scheduler.queue import FairQueue, Waiter
from ollama_gate.scheduler.rooms import Rooms
from tests.fakes.gpu import FakeGPU
from tests.helpers.keys import add_key
from tests.routing.test_routing import make_fleet_app

TRACE = "ABAACABC"


def backend(max_loaded=1, loaded=(), name="gpu1"):
    return SimpleNamespace(
        name=name,
        config=SimpleNamespace(max_loaded=max_loaded),
        loaded={m: {} for m in loaded},
        checked_at=0.0,
    )


def test_a_room_holds_its_models_and_swaps_out_an_idle_one():
    rooms, gpu = Rooms(), backend(max_loaded=2, loaded=["a"])
    assert rooms.fits(gpu, "a") and rooms.fits(gpu, "b")  # a place is free
    assert rooms.enter(gpu, "a") and rooms.enter(gpu, "b")
    assert not rooms.fits(gpu, "c")
    assert not rooms.enter(gpu, "c")  # a and b both run: c must wait
    rooms.leave(gpu, "a")
    assert rooms.enter(gpu, "c")  # a is idle: swapped out
    assert list(rooms.held["gpu1"]) == ["b", "c"] and rooms.swaps["gpu1"] == 1
    assert rooms.capped([gpu]) == (gpu,)
    free = backend(max_loaded=None)
    assert rooms.fits(free, "x") and rooms.capped([gpu, free]) == ()
    for _ in range(5):  # no cap: every call runs
        assert rooms.enter(free, "x")


def test_the_room_follows_ps_and_learns_its_size_from_an_eviction():
    rooms, gpu = Rooms(), backend(max_loaded=None, loaded=[])
    later = (datetime.now(UTC) + timedelta(minutes=4)).isoformat()
    gpu.loaded = {"a": {"expires_at": later}, "b": {"expires_at": later}}
    gpu.checked_at = 1.0
    assert rooms.fits(gpu, "c") and rooms.cap(gpu) is None  # nothing learned yet
    # b went four minutes before its expiry while c came in: evicted, room for 2
    gpu.loaded = {"a": {"expires_at": later}, "c": {"expires_at": later}}
    gpu.checked_at = 2.0
    assert not rooms.fits(gpu, "d") and rooms.cap(gpu) == 2
    assert list(rooms.held["gpu1"]) == ["a", "c"]  # b is gone with ps
    # expired models leaving teach nothing
    rooms2, gpu2 = Rooms(), backend(max_loaded=None, loaded=[])
    soon = (datetime.now(UTC) + timedelta(seconds=5)).isoformat()
    gpu2.loaded, gpu2.checked_at = {"a": {"expires_at": soon}}, 1.0
    rooms2.fits(gpu2, "a")
    gpu2.loaded, gpu2.checked_at = {"b": {"expires_at": later}}, 2.0
    assert rooms2.fits(gpu2, "x") and rooms2.cap(gpu2) is None


def simulate(arrivals, max_pass, until=60.0, step=0.25, duration=1.0):
    """One backend holding one model, one call at a time of ``duration``; the
    queue's order on a simulated clock. Returns (model, waited) per grant, swaps."""
    now = [0.0]
    gpu, rooms = backend(max_loaded=1), Rooms()
    queue = FairQueue(None, 600, None, rooms.fits, max_pass)
    queue.clock = lambda: now[0]
    pending = sorted(arrivals)
    running, grants = None, []
    while now[0] <= until and (pending or queue.waiters or running):
        if running and running[1] <= now[0]:
            rooms.leave(gpu, running[0])
            running = None
        while pending and pending[0][0] <= now[0]:
            at, model = pending.pop(0)
            w = Waiter(owner=len(grants) + len(queue.waiters), group=model)
            w.since, w.rooms = at, (gpu,)
            w.order, w.start = len(queue.waiters) + len(grants), at
            queue.waiters.append(w)
        if running is None:
            for w in sorted(queue.waiters, key=queue._fair):
                if queue._my_turn(w) and rooms.enter(gpu, w.group):
                    queue.waiters.remove(w)
                    grants.append((w.group, now[0] - w.since))
                    running = (w.group, now[0] + duration)
                    break
        now[0] += step
    return grants, rooms.swaps["gpu1"]


def test_held_models_go_first_and_the_trace_swaps_far_less():
    arrivals = [(i * 0.01, m) for i, m in enumerate(TRACE)]
    grants, swaps = simulate(arrivals, max_pass=30)
    assert "".join(g for g, _ in grants) == "AAAABBCC" and swaps == 2
    grants, swaps = simulate(arrivals, max_pass=0)  # 0: arrival order
    assert "".join(g for g, _ in grants) == TRACE and swaps == 6


def test_no_call_is_passed_over_past_the_bound():
    """A's keep coming faster than they run; the one B still runs within the bound
    (and the call that was running when it came due)."""
    arrivals = [(i * 0.5, "A") for i in range(40)] + [(0.3, "B")]
    grants, swaps = simulate(arrivals, max_pass=5)
    waited_b = next(w for g, w in grants if g == "B")
    assert waited_b <= 5 + 1.0 + 0.25  # the bound, one call, one step
    assert swaps >= 1 and [g for g, _ in grants].count("A") == 40
    never = simulate(arrivals, max_pass=10**6, until=80)[0]
    assert next(w for g, w in never if g == "B") > 15  # unbounded: passed over long


def test_a_call_that_did_not_wait_does_not_jump_an_overdue_swap():
    gpu, rooms = backend(max_loaded=1), Rooms()
    queue = FairQueue(None, 600, None, rooms.fits, 5)
    now = [100.0]
    queue.clock = lambda: now[0]
    assert rooms.enter(gpu, "A")
    b = Waiter(owner=1, group="B", rooms=(gpu,))
    b.since = 99.0
    queue.waiters.append(b)
    assert not queue.passes_over(gpu, "A")  # B waits, not yet too long
    now[0] = 104.5
    assert queue.passes_over(gpu, "A") and not queue.passes_over(gpu, "B")
    assert not FairQueue(None, 600).passes_over(gpu, "A")  # no rooms: never


def order_through_the_app(tmp_path, fake, max_pass: float) -> tuple[list, int]:
    """The trace through the app on one backend (parallel 1, max-loaded 1) whose
    fake GPU holds one model: the order the GPU ran them, and its swaps."""
    fake.add_model("phi3:mini")
    fake.gpu = FakeGPU(room=1)
    app = make_fleet_app(
        tmp_path, [fake], BACKENDS=[f"gpu1={fake.url}"], SWAP_MAX_PASS=max_pass
    )
    with app.app_context():
        set_backend(app.config["GATE"], "gpu1", parallel=1, max_loaded=1)
    app.extensions["ollama_gate"].checker.check_due(force=True)
    key = add_key(app)
    queue = app.extensions["ollama_gate"].sched.scheduler.queue
    models = {"A": "llama3.2", "B": "qwen2.5:7b", "C": "phi3:mini"}
    fake.hold_second_chunk = True  # the first A runs until every other call waits
    statuses = []

    def run(model, stream):
        resp = app.test_client().post(
            "/api/generate",
            json={"model": model, "prompt": "x", "stream": stream},
            headers={"Authorization": f"Bearer {key}"},
            buffered=True,  # read to the end: the first holds its slot till then
        )
        statuses.append(resp.status_code)

    threads = []
    for i, letter in enumerate(TRACE):
        t = threading.Thread(target=run, args=(models[letter], i == 0))
        t.start()
        threads.append(t)
        deadline = time.monotonic() + 10
        while i and sum(queue.waiting().values()) < i and time.monotonic() < deadline:
            time.sleep(0.005)  # each waits before the next comes: arrival order
        if i == 0:
            fake.first_chunk_sent.wait(10)
    fake.release.set()
    for t in threads:
        t.join(30)
    assert statuses == [200] * len(TRACE)
    names = {v + (":latest" if ":" not in v else ""): k for k, v in models.items()}
    return "".join(names[m] for m in fake.gpu.started), fake.gpu.swaps


def test_the_gateway_runs_held_models_first(tmp_path, fake_pool):
    order, swaps = order_through_the_app(tmp_path, fake_pool[0], 30)
    assert order == "AAAABBCC" and swaps == 2


def test_with_no_pass_the_gateway_keeps_arrival_order(tmp_path, fake_pool):
    order, swaps = order_through_the_app(tmp_path, fake_pool[0], 0)
    assert order == TRACE and swaps == 6
