"""Two "workers" of the cluster queue in one process, sharing one Redis: each with its
own slots, queue, worker id and wake-up subscriber, as two gunicorn workers have."""

from __future__ import annotations

import json
import threading
import time
import uuid
from types import SimpleNamespace

import pytest
import redis

from ollama_gate.scheduler.bounds import Bounds
from ollama_gate.scheduler.cluster import ClusterQueue
from ollama_gate.scheduler.waiter import Waiter
from ollama_gate.shared.slots import RedisSlots
from ollama_gate.shared.upkeep import Upkeep
from tests.helpers.services import REDIS_URL

TEST_REDIS = REDIS_URL.rsplit("/", 1)[0] + "/15"  # the cluster tests own it
ERRORS = (redis.RedisError, OSError)
KEY = "gpu1|m"  # one backend's slots of model m
BIG = Bounds(1000, 1000, 1000, 10**9, 10**9)


class Counting(redis.Redis):
    """A client that counts the commands it sends (round trips, pipelines aside)."""

    sent = 0

    def execute_command(self, *args, **options):
        self.sent += 1
        return super().execute_command(*args, **options)


@pytest.fixture()
def prefix():
    """A fresh prefix in the test database (other tests may share Redis)."""
    name = f"t{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis.from_url(TEST_REDIS)
    for key in client.scan_iter(f"{name}:*"):
        client.delete(key)


def worker(prefix: str, name: str, bounds: Bounds = BIG, **opts) -> SimpleNamespace:
    """One worker's slots and queue."""
    client = Counting.from_url(TEST_REDIS)
    slots = RedisSlots(client, f"{prefix}:model", 60, Upkeep(), ERRORS)
    queue = ClusterQueue(
        client,
        prefix,
        bounds,
        opts.pop("timeout", 30),
        worker=name,
        errors=ERRORS,
        **opts,
    )
    return SimpleNamespace(client=client, slots=slots, queue=queue, name=name)


def take(w, owner, weight=1, waiter=None, limit=1, band=0):
    return w.queue.take(w.slots, KEY, limit, owner, weight, "m", waiter, band=band)


def give(w, token, owner) -> None:
    w.queue.give(w.slots, KEY, token, owner, "m")


def call(w, owner, weight=1, band=0, limit=1, gone=None, **fields):
    """One call of model m: a slot at once, or after waiting in the line."""
    token = take(w, owner, weight, limit=limit, band=band)
    if token is not None:
        return token
    me = Waiter(owner, "m", weight, key=owner, user=owner, band=band, **fields)
    return w.queue.wait(
        me,
        lambda me: take(w, owner, weight, me, limit),
        gone or (lambda: False),
    )


def waiting(w, owner=None) -> int:
    """Calls waiting in the whole line (or ``owner``'s)."""
    line = w.queue.held_now()
    return sum(1 for x in line if owner is None or x.owner == json.dumps(owner))


def wait_for(check, seconds: float = 10.0):
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        time.sleep(0.01)
    return check()


def queue_in_turn(calls) -> tuple[list, list, list]:
    """Start ``calls`` ((worker, owner, kwargs)) one after another, each waiting in
    the line before the next joins; each gives its slot back once granted. The
    grant order, the threads and the errors."""
    order, errors, threads = [], [], []
    lock = threading.Lock()

    def run(w, owner, kw):
        try:
            token = call(w, owner, **kw)
        except Exception as exc:  # noqa: BLE001 - the test reads it
            errors.append(exc)
            return
        with lock:
            order.append(owner)
            give(w, token, owner)

    for w, owner, kw in calls:
        n = waiting(w, owner) + 1  # each joins before the next comes
        t = threading.Thread(target=run, args=(w, owner, kw))
        t.start()
        threads.append(t)
        assert wait_for(lambda n=n, w=w, o=owner: waiting(w, o) >= n or errors)
    return order, threads, errors
