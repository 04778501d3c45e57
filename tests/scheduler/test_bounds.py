"""The queue's bounds: one key (or user) cannot fill it for everyone, and the bodies
of waiting calls hold a bounded amount of memory. Past a bound: 503 with Retry-After,
in the API family's shape, and nothing reaches the backend."""

from __future__ import annotations

import threading
import time

import pytest

from ollama_gate.errors import ApiError
from tests.helpers.keys import add_key
from tests.scheduler.test_scheduler import generate, in_threads, one_backend


def queue_of(app):
    return app.extensions["ollama_gate"].sched.scheduler.queue


def waiting(app) -> int:
    return sum(queue_of(app).waiting().values())


def wait_until(check, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        time.sleep(0.01)
    return check()


class Calls:
    """Calls made in threads, their answers kept by name."""

    def __init__(self, app):
        self.app = app
        self.answers: dict = {}
        self.threads: list[threading.Thread] = []

    def start(self, key, name, **body):
        def run():
            resp = generate(self.app, key, name, **body)
            resp.get_data()  # a stream holds its slot until read to its end
            self.answers[name] = resp

        self.threads += in_threads([run])

    def queue(self, key, name, **body):
        """Start a call and wait until it waits in the queue."""
        before = waiting(self.app)
        self.start(key, name, **body)
        assert wait_until(lambda: waiting(self.app) > before), name

    def join(self):
        for t in self.threads:
            t.join(30)


def hold_the_slot(app, gpu1, key) -> Calls:
    """A stream that holds gpu1's one slot until ``gpu1.release`` is set."""
    gpu1.hold_second_chunk = True
    calls = Calls(app)
    calls.start(key, "held", stream=True)
    assert gpu1.first_chunk_sent.wait(10)
    return calls


def prompts(gpu1) -> list[str]:
    return [r.json["prompt"] for r in gpu1.requests if r.path == "/api/generate"]


def assert_refused(resp, words: str):
    assert resp.status_code == 503, resp.get_data(as_text=True)
    assert int(resp.headers["Retry-After"]) > 0
    assert words in resp.get_json()["error"]


def test_a_queue_full_of_one_keys_calls_still_admits_another_key(tmp_path, pool):
    """Key A fills the whole queue; key B's call takes the place of A's newest."""
    gpu1 = pool[0]
    app = one_backend(tmp_path, pool, parallel=1, QUEUE_MAX=4, QUEUE_TIMEOUT=30)
    flood, quiet = add_key(app, "flood"), add_key(app, "quiet")
    calls = hold_the_slot(app, gpu1, flood)
    for i in range(4):
        calls.queue(flood, f"a{i}")
    calls.start(quiet, "b")  # the queue is full, of key A's calls only
    assert wait_until(lambda: "a3" in calls.answers)
    assert_refused(calls.answers["a3"], "queue")  # A's newest gave its place up
    assert waiting(app) == 4
    assert "b" not in calls.answers  # B waits for the slot
    gpu1.hold_second_chunk = False
    gpu1.release.set()
    calls.join()
    assert calls.answers["b"].status_code == 200
    assert [calls.answers[f"a{i}"].status_code for i in range(3)] == [200] * 3
    assert "a3" not in prompts(gpu1)  # the refused call never reached the backend
    assert queue_of(app).held() == (0, 0)


def test_a_full_queue_of_one_call_per_key_refuses_a_newcomer(tmp_path, pool):
    """No key holds more than its share: nothing is taken from anyone."""
    gpu1 = pool[0]
    app = one_backend(tmp_path, pool, parallel=1, QUEUE_MAX=2, QUEUE_TIMEOUT=30)
    keys = [add_key(app, f"user{i}") for i in range(3)]
    calls = hold_the_slot(app, gpu1, keys[0])
    calls.queue(keys[0], "k0")
    calls.queue(keys[1], "k1")
    assert_refused(generate(app, keys[2], "k2"), "queue is full")
    gpu1.release.set()
    calls.join()
    assert calls.answers["k0"].status_code == calls.answers["k1"].status_code == 200


def test_a_key_may_hold_only_its_share_of_the_queue(tmp_path, pool):
    gpu1 = pool[0]
    app = one_backend(
        tmp_path, pool, parallel=1, QUEUE_MAX=50, QUEUE_MAX_PER_KEY=2, QUEUE_TIMEOUT=30
    )
    busy, other = add_key(app, "busy"), add_key(app, "other")
    calls = hold_the_slot(app, gpu1, other)
    calls.queue(busy, "a0")
    calls.queue(busy, "a1")
    assert_refused(generate(app, busy, "a2"), "this key")
    v1 = app.test_client().post(
        "/v1/chat/completions",
        json={"model": "llama3.2", "messages": [{"role": "user", "content": "a3"}]},
        headers={"Authorization": f"Bearer {busy}"},
    )
    assert v1.status_code == 503 and v1.headers["Retry-After"]
    assert "this key" in v1.get_json()["error"]["message"]  # OpenAI's shape
    calls.queue(other, "b")  # another key still finds room
    gpu1.release.set()
    calls.join()
    assert {n: r.status_code for n, r in calls.answers.items()} == {
        "held": 200,
        "a0": 200,
        "a1": 200,
        "b": 200,
    }
    assert "a2" not in prompts(gpu1)


def test_a_user_may_hold_only_its_share_of_the_queue(tmp_path, pool):
    """Many keys of one user count together."""
    gpu1 = pool[0]
    app = one_backend(
        tmp_path,
        pool,
        parallel=1,
        QUEUE_MAX=50,
        QUEUE_MAX_PER_KEY=10,
        QUEUE_MAX_PER_USER=2,
        QUEUE_TIMEOUT=30,
    )
    first, second = add_key(app, "alice"), add_key(app, "alice")
    bob = add_key(app, "bob")
    calls = hold_the_slot(app, gpu1, bob)
    calls.queue(first, "a0")
    calls.queue(second, "a1")
    assert_refused(generate(app, second, "a2"), "this user")
    calls.queue(bob, "b")
    gpu1.release.set()
    calls.join()
    assert all(r.status_code == 200 for r in calls.answers.values())
    assert "a2" not in prompts(gpu1)


def test_the_bodies_of_waiting_calls_hold_bounded_memory(tmp_path, pool):
    """Each waiting call counts its body twice (the bytes and the parsed JSON)."""
    gpu1 = pool[0]
    app = one_backend(
        tmp_path,
        pool,
        parallel=1,
        QUEUE_MAX=50,
        QUEUE_MAX_MB=1,
        QUEUE_MAX_MB_PER_KEY=0.5,
        QUEUE_TIMEOUT=30,
    )
    big, other, third = add_key(app, "big"), add_key(app, "other"), add_key(app, "t")
    calls = hold_the_slot(app, gpu1, third)
    pad = "x" * 150_000  # ~150 KB of body, held as ~300 KB
    calls.queue(big, "a0", system=pad)
    # a second one would take key A past its 0.5 MB: refused, though calls are few
    assert_refused(generate(app, big, "a1", system=pad), "this key")
    held_calls, held_bytes = queue_of(app).held()
    assert held_calls == 1 and 300_000 <= held_bytes < 310_000
    calls.queue(other, "b0", system=pad)
    calls.queue(third, "c0", system=pad)  # 0.9 MB held in all
    assert_refused(generate(app, other, "b1", system=pad), "this key")
    # the total is 1 MB: one more of another key's does not fit
    fourth = add_key(app, "fourth")
    assert_refused(generate(app, fourth, "d0", system=pad), "queue")
    gpu1.release.set()
    calls.join()
    assert all(r.status_code == 200 for r in calls.answers.values())
    assert not {"a1", "b1", "d0"} & set(prompts(gpu1))
    assert queue_of(app).held() == (0, 0)  # every waiting body let go


def test_a_full_queue_of_one_users_many_keys_gives_way_to_another_user():
    """Each key has one call waiting, but one user has them all: that user's newest
    gives its place up (the rule between keys finds no key busier than another)."""
    from ollama_gate.scheduler.bounds import Bounds
    from ollama_gate.scheduler.queue import Waiter

    bounds = Bounds(4, 10, 10, 10**9, 10**9)
    queued = [Waiter(k, "m", key=k, user="u", order=k) for k in range(4)]
    newcomer = Waiter(9, "m", key=9, user="v", order=9)
    assert bounds.admit(queued, newcomer) == [queued[3]]
    assert bounds.admit(queued[:3], newcomer) == []  # room: nobody gives way
    alone = [Waiter(k, "m", key=k, user=k, order=k) for k in range(4)]
    with pytest.raises(ApiError) as refused:  # one call per key and user: all equal
        bounds.admit(alone, newcomer)
    assert refused.value.status == 503 and refused.value.headers["Retry-After"]
