"""The cluster queue under real gunicorn (two gevent workers, one Redis): /api/ps shows
the whole gateway's line from either worker, and a worker killed while it runs a call
gives its slot back within seconds, so the calls waiting in the other worker run."""

from __future__ import annotations

import json
import os
import signal
import threading
import uuid

import pytest
import redis
import requests

from tests.helpers.live import LiveGateway
from tests.helpers.services import REDIS_URL
from tests.scheduler.test_live import (
    _queue_behind_a_held_call,
    _release_and_check_the_one_that_left_never_ran,
    generate,
    wait_for,
)

TEST_REDIS = REDIS_URL.rsplit("/", 1)[0] + "/15"  # the cluster tests own it
pytestmark = pytest.mark.needs_redis


def line(r, prefix) -> list[dict]:
    return [json.loads(v) for v in r.hvals(f"{prefix}:queue:all")]


def test_a_killed_worker_gives_its_slot_back_to_the_other_workers_line(tmp_path, pool):
    gpu1 = pool[0]
    prefix = f"live{uuid.uuid4().hex[:8]}"
    r = redis.Redis.from_url(TEST_REDIS)
    gw = LiveGateway(
        tmp_path,
        f"gpu1={gpu1.url}",
        workers=2,
        env={
            "OLLAMA_GATE_REDIS_URL": TEST_REDIS,
            "OLLAMA_GATE_REDIS_PREFIX": prefix,
            "OLLAMA_GATE_HEALTH_INTERVAL": "0.3",
            # the lease alone would free the slot after the queue's timeout: a call
            # granted in time was granted by the sweep of the dead worker
            "OLLAMA_GATE_SLOT_LEASE_SECONDS": "120",
            "OLLAMA_GATE_QUEUE_TIMEOUT": "40",
        },
    )
    gw.cli("init")
    gw.cli("backends", "set", "gpu1", "--parallel", "1")
    gw.start()
    try:
        key = gw.key()
        gpu1.parallel = 100
        gpu1.hold_second_chunk = True
        held = threading.Thread(target=lambda: _quietly(gw, key, "held", True))
        held.start()
        assert gpu1.first_chunk_sent.wait(10)
        (holder,) = [
            k.decode().split(":ws:", 1)[1]
            for k in r.scan_iter(f"{prefix}:queue:ws:*")
            if r.hlen(k)
        ]
        statuses: dict[str, object] = {}
        threads = []
        for i in range(12):  # until the other worker has calls waiting too
            t = threading.Thread(target=_one, args=(gw, key, f"w{i}", statuses))
            t.start()
            threads.append(t)
            assert wait_for(lambda i=i: len(line(r, prefix)) == i + 1)
            if sum(w["k"] != holder for w in line(r, prefix)) >= 2:
                break
        waiting = line(r, prefix)
        others = {w["id"] for w in waiting if w["k"] != holder}
        assert len(others) >= 2
        for _ in range(4):  # either worker answers with the whole line
            ps = requests.get(
                gw.url + "/api/ps",
                headers={"Authorization": f"Bearer {key}"},
                timeout=10,
            ).json()
            assert ps["queue"]["waiting"] == len(waiting)
        os.kill(int(holder.split(":")[1]), signal.SIGKILL)
        gpu1.hold_second_chunk = False
        gpu1.release.set()
        for t in threads:
            t.join(60)
        ok = [p for p, s in statuses.items() if s == 200]
        assert len(ok) >= len(others)  # every call of the living worker ran
        assert r.hlen(f"{prefix}:queue:ws:{holder}") == 0  # its slot: swept
        assert not [w for w in line(r, prefix) if w["k"] == holder]
        assert wait_for(
            lambda: (
                sum(r.zcard(k) for k in r.scan_iter(f"{prefix}:model:inflight:*")) == 0
            )
        )
        held.join(10)
    finally:
        gw.stop()
        for k in r.scan_iter(f"{prefix}:*"):
            r.delete(k)


def _quietly(gw, key, prompt, stream) -> None:
    try:
        generate(gw, key, prompt, stream=stream)
    except requests.RequestException:  # its worker is killed under it
        pass


def _one(gw, key, prompt, statuses) -> None:
    try:
        statuses[prompt] = (
            requests.Session()
            .post(
                gw.url + "/api/generate",
                json={"model": "llama3.2", "prompt": prompt, "stream": False},
                headers={"Authorization": f"Bearer {key}"},
                timeout=60,
            )
            .status_code
        )
    except requests.RequestException as exc:  # waited in the killed worker
        statuses[prompt] = exc


def test_a_client_that_hangs_up_leaves_the_cluster_line(tmp_path, pool):
    gpu1 = pool[0]
    prefix = f"live{uuid.uuid4().hex[:8]}"
    r = redis.Redis.from_url(TEST_REDIS)
    gw = LiveGateway(
        tmp_path,
        f"gpu1={gpu1.url}",
        env={
            "OLLAMA_GATE_REDIS_URL": TEST_REDIS,
            "OLLAMA_GATE_REDIS_PREFIX": prefix,
            "OLLAMA_GATE_HEALTH_INTERVAL": "0.3",
        },
    )
    gw.cli("init")
    gw.cli("backends", "set", "gpu1", "--parallel", "1")
    gw.start()
    try:
        key = gw.key()
        held, sock, waiting = _queue_behind_a_held_call(gw, gpu1, key)
        assert len(line(r, prefix)) == 1  # it waits in Redis' line
        sock.close()
        assert wait_for(lambda: waiting() == 0)
        assert line(r, prefix) == []
        _release_and_check_the_one_that_left_never_ran(gw, gpu1, key, held)
    finally:
        gw.stop()
        for k in r.scan_iter(f"{prefix}:*"):
            r.delete(k)


def test_weights_hold_across_two_gunicorn_workers(tmp_path, pool):
    """A flooding key of weight 2 and a quiet key of weight 1, their calls spread
    over two workers: the backend runs them in one fair order, 2 turns to 1."""
    gpu1 = pool[0]
    prefix = f"live{uuid.uuid4().hex[:8]}"
    r = redis.Redis.from_url(TEST_REDIS)
    gw = LiveGateway(
        tmp_path,
        f"gpu1={gpu1.url}",
        workers=2,
        env={
            "OLLAMA_GATE_REDIS_URL": TEST_REDIS,
            "OLLAMA_GATE_REDIS_PREFIX": prefix,
            "OLLAMA_GATE_HEALTH_INTERVAL": "0.3",
        },
    )
    gw.cli("init")
    gw.cli("backends", "set", "gpu1", "--parallel", "1")
    gw.start()
    try:
        holder = gw.key("holder")
        flood, quiet = gw.key("flood", queue_weight=2), gw.key("quiet")
        gpu1.parallel = 100
        gpu1.hold_second_chunk = True
        held = threading.Thread(target=lambda: generate(gw, holder, "held", True))
        held.start()
        assert gpu1.first_chunk_sent.wait(10)
        statuses: dict[str, object] = {}
        threads = []
        calls = [(flood, f"f{i}") for i in range(6)] + [
            (quiet, f"q{i}") for i in range(3)
        ]
        for n, (key, prompt) in enumerate(calls, 1):
            t = threading.Thread(target=_one, args=(gw, key, prompt, statuses))
            t.start()
            threads.append(t)
            assert wait_for(lambda n=n: len(line(r, prefix)) == n)  # in turn
        assert len({w["k"] for w in line(r, prefix)}) == 2  # both workers hold some
        gpu1.hold_second_chunk = False
        gpu1.release.set()
        for t in [held, *threads]:
            t.join(30)
        assert set(statuses.values()) == {200}
        ran = [
            q.json["prompt"][0]
            for q in gpu1.requests
            if q.path == "/api/generate" and q.json.get("prompt") != "held"
        ]
        assert "".join(ran) == "fqffqffqf"  # start-time fair turns, as in one worker
    finally:
        gw.stop()
        for k in r.scan_iter(f"{prefix}:*"):
            r.delete(k)
