"""The cluster queue under real gunicorn (gevent workers of two masters, as two hosts
sharing one database and one Redis): /api/ps shows the whole gateway's line from
either host, weights hold across them, and a worker killed while it runs a call gives
its slot back within seconds, so the calls waiting in the other host run."""

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


def cluster_gateway(tmp, gpu1, prefix, workers=1, db_url=None, **env) -> LiveGateway:
    """A gateway in front of gpu1 (one slot) whose queue lives in Redis under prefix."""
    tmp.mkdir(parents=True, exist_ok=True)
    gw = LiveGateway(
        tmp,
        f"gpu1={gpu1.url}",
        workers=workers,
        db_url=db_url,
        env={
            "OLLAMA_GATE_REDIS_URL": TEST_REDIS,
            "OLLAMA_GATE_REDIS_PREFIX": prefix,
            "OLLAMA_GATE_HEALTH_INTERVAL": "0.3",
            **env,
        },
    )
    gw.cli("init")
    gw.cli("backends", "set", "gpu1", "--parallel", "1")
    return gw


def test_a_killed_worker_gives_its_slot_back_to_the_other_workers_line(tmp_path, pool):
    gpu1 = pool[0]
    prefix = f"live{uuid.uuid4().hex[:8]}"
    r = redis.Redis.from_url(TEST_REDIS)
    # the lease alone would free the slot after the queue's timeout: a call granted
    # in time was granted by the sweep of the dead worker
    slow_lease = {
        "OLLAMA_GATE_SLOT_LEASE_SECONDS": "120",
        "OLLAMA_GATE_QUEUE_TIMEOUT": "40",
    }
    # two masters, so the calls that wait are surely in another worker than the one
    # killed (one master's kernel may hand every connection to the same worker)
    gw_a = cluster_gateway(tmp_path / "a", gpu1, prefix, **slow_lease)
    gw_b = cluster_gateway(
        tmp_path / "b", gpu1, prefix, db_url=gw_a.db_url, **slow_lease
    )
    gw_a.start(), gw_b.start()
    try:
        key = gw_a.key()
        gpu1.parallel = 100
        gpu1.hold_second_chunk = True
        held = threading.Thread(target=lambda: _quietly(gw_a, key, "held", True))
        held.start()
        assert gpu1.first_chunk_sent.wait(10)
        (holder,) = [
            k.decode().split(":ws:", 1)[1]
            for k in r.scan_iter(f"{prefix}:queue:ws:*")
            if r.hlen(k)
        ]
        statuses: dict[str, object] = {}
        threads = []
        for i in range(3):
            t = threading.Thread(target=_one, args=(gw_b, key, f"w{i}", statuses))
            t.start()
            threads.append(t)
            assert wait_for(lambda i=i: len(line(r, prefix)) == i + 1)
        waiting = line(r, prefix)
        assert not [w for w in waiting if w["k"] == holder]
        for gw in (gw_a, gw_b):  # either host answers with the whole line
            ps = requests.get(
                gw.url + "/api/ps",
                headers={"Authorization": f"Bearer {key}"},
                timeout=10,
            ).json()
            assert ps["queue"]["waiting"] == len(waiting) == 3
        os.kill(int(holder.split(":")[1]), signal.SIGKILL)
        gpu1.hold_second_chunk = False
        gpu1.release.set()
        for t in threads:
            t.join(60)
        assert statuses == {"w0": 200, "w1": 200, "w2": 200}  # all ran
        assert r.hlen(f"{prefix}:queue:ws:{holder}") == 0  # its slot: swept
        assert wait_for(
            lambda: (
                sum(r.zcard(k) for k in r.scan_iter(f"{prefix}:model:inflight:*")) == 0
            )
        )
        held.join(10)
    finally:
        gw_a.stop(), gw_b.stop()
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
    gw = cluster_gateway(tmp_path, gpu1, prefix)
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


def test_weights_hold_across_two_gateways(tmp_path, pool):
    """A flooding key of weight 2 and a quiet key of weight 1, their calls spread
    over two gateways (two gunicorn masters, one database, one Redis): the backend
    runs them in one fair order, 2 turns to 1, as one worker would.

    Two masters rather than two workers of one: the kernel decides which worker of
    one master accepts a connection, and it may hand them all to the same one."""
    gpu1 = pool[0]
    prefix = f"live{uuid.uuid4().hex[:8]}"
    r = redis.Redis.from_url(TEST_REDIS)
    gw_a = cluster_gateway(tmp_path / "a", gpu1, prefix)
    gw_b = cluster_gateway(tmp_path / "b", gpu1, prefix, db_url=gw_a.db_url)
    gw_a.start(), gw_b.start()
    try:
        holder = gw_a.key("holder")
        flood, quiet = gw_a.key("flood", queue_weight=2), gw_a.key("quiet")
        gpu1.parallel = 100
        gpu1.hold_second_chunk = True
        held = threading.Thread(target=lambda: generate(gw_a, holder, "held", True))
        held.start()
        assert gpu1.first_chunk_sent.wait(10)
        statuses: dict[str, object] = {}
        threads = []
        calls = [(flood, f"f{i}") for i in range(6)] + [
            (quiet, f"q{i}") for i in range(3)
        ]
        for n, (key, prompt) in enumerate(calls, 1):
            gw = (gw_a, gw_b)[n % 2]  # every other call to the other host
            t = threading.Thread(target=_one, args=(gw, key, prompt, statuses))
            t.start()
            threads.append(t)
            assert wait_for(lambda n=n: len(line(r, prefix)) == n)  # in turn
        assert len({w["k"] for w in line(r, prefix)}) == 2  # both gateways hold some
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
        gw_a.stop(), gw_b.stop()
        for k in r.scan_iter(f"{prefix}:*"):
            r.delete(k)
