"""The cluster queue's caps count every worker's waiting calls (503 with Retry-After
before anything is held), and a worker that stops beating gives its slots and places
back, waking the next in line."""

from __future__ import annotations

import logging

import pytest

from ollama_gate.errors import ApiError
from ollama_gate.scheduler.bounds import Bounds
from tests.scheduler.cluster_parts import (
    KEY,
    call,
    give,
    prefix,  # noqa: F401 - a fixture
    queue_in_turn,
    take,
    wait_for,
    waiting,
    worker,
)

pytestmark = pytest.mark.needs_redis


def refused(w, owner, **fields) -> ApiError:
    with pytest.raises(ApiError) as info:
        call(w, owner, **fields)
    return info.value


def test_a_keys_cap_counts_its_calls_on_every_worker(prefix):  # noqa: F811
    bounds = Bounds(100, 2, 100, 10**9, 10**9)
    a, b = worker(prefix, "a", bounds), worker(prefix, "b", bounds)
    held = take(a, "x")
    order, threads, errors = queue_in_turn([(a, "k", {}), (a, "k", {})])
    err = refused(b, "k")  # its third, on the other worker
    assert err.status == 503 and err.headers["Retry-After"] == "5"
    assert "this key has 2 calls waiting" in err.message
    assert waiting(b) == 2 and b.slots.in_flight(KEY) == 1  # nothing held for it
    give(a, held, "x")
    for t in threads:
        t.join(10)
    assert order == ["k", "k"] and not errors


def test_a_teams_cap_counts_its_members_on_every_worker(prefix):  # noqa: F811
    a, b = worker(prefix, "a"), worker(prefix, "b")
    team = {"subjects": frozenset({"team:7"}), "caps": (("team:7", 1, "team ops"),)}
    held = take(a, "x")
    order, threads, errors = queue_in_turn([(a, "ann", team)])
    err = refused(b, "bob", **team)  # another member, another worker
    assert err.status == 503 and "team ops has 1 calls waiting" in err.message
    assert err.headers["Retry-After"] == "5"
    give(a, held, "x")
    threads[0].join(10)
    assert order == ["ann"]


def test_a_full_queue_takes_the_busiest_keys_newest_place(prefix):  # noqa: F811
    bounds = Bounds(3, 100, 100, 10**9, 10**9)
    a, b = worker(prefix, "a", bounds), worker(prefix, "b", bounds)
    held = take(a, "x")
    order, threads, errors = queue_in_turn([(a, "flood", {})] * 3)
    quiet, threads2, errors2 = queue_in_turn([(b, "quiet", {})])
    assert wait_for(lambda: errors)  # the message reached worker a's waiter
    assert [e.status for e in errors] == [503]
    assert "its newest gave its place" in errors[0].message
    assert waiting(a) == 3
    give(a, held, "x")
    for t in threads + threads2:
        t.join(10)
    assert not errors2 and sorted(order + quiet) == ["flood", "flood", "quiet"]


def test_a_worker_that_stops_beating_frees_its_slots_and_places(prefix):  # noqa: F811
    a, b = worker(prefix, "a"), worker(prefix, "b")
    held = take(a, "x")  # a runs a call, and a call of its own waits
    assert held is not None
    mine, threads_a, errors_a = queue_in_turn([(a, "a-waits", {})])
    order, threads, errors = queue_in_turn([(b, "b-waits", {})])
    # a dies: its beat is old (a killed process beats no more)
    a.client.zadd(f"{prefix}:queue:workers", {"a": 0})
    assert b.queue.beat() == ["a"]
    threads[0].join(10)
    assert order == ["b-waits"] and not errors  # granted: a's slot came back
    assert [w.id.split(":")[0] for w in b.queue.held_now()] == []
    assert a.client.hlen(f"{prefix}:queue:ws:a") == 0
    assert not a.client.hexists(f"{prefix}:queue:run", '"x"')
    # a's own waiter, since a lived on (only slow), finds its place gone at its
    # next look and joins the line again: granted once b's call gave its slot back
    threads_a[0].join(10)
    assert mine == ["a-waits"] and not errors_a and a.queue.rejoined == 1


def test_a_worker_that_exits_is_swept_at_once_and_quietly(prefix, caplog):  # noqa: F811
    a, b, c = worker(prefix, "a"), worker(prefix, "b"), worker(prefix, "c")
    for w in (a, b, c):
        w.queue.here()  # each beats once
    held = take(b, "y")  # b holds a slot and dies; a exits with nothing held
    b.client.zadd(f"{prefix}:queue:workers", {"b": 0})
    a.queue._goodbye()  # what a worker registers at exit
    caplog.set_level(logging.INFO, "ollama_gate.scheduler")
    assert sorted(c.queue.beat()) == ["a", "b"]
    levels = {r.getMessage().split()[1]: r.levelname for r in caplog.records}
    assert levels == {"a": "INFO", "b": "WARNING"}  # only b left something behind
    assert held is not None and c.slots.in_flight(KEY) == 0
