"""Fewer model swaps across two gateways (two gunicorn masters sharing one database
and one Redis) in front of one backend whose fake GPU holds one model: the trace
A B A A C A B C, its calls sent to either gateway in turn, runs held models first
(2 swaps, against 6 in arrival order), and every call is answered."""

from __future__ import annotations

import threading
import uuid

import pytest
import redis
import requests

from tests.fakes.gpu import FakeGPU
from tests.scheduler.test_cluster_live import TEST_REDIS, cluster_gateway, line
from tests.scheduler.test_live import wait_for

pytestmark = pytest.mark.needs_redis
MODELS = {"A": "llama3.2", "B": "qwen2.5:7b", "C": "llama3:8b"}
TRACE = "ABAACABC"


def _post(gw, key, model, stream, statuses, i) -> None:
    try:
        resp = requests.post(
            gw.url + "/api/generate",
            json={"model": model, "prompt": f"p{i}", "stream": stream},
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
        )
        resp.content  # noqa: B018 - read to the end: the call holds its slot till then
        statuses[i] = resp.status_code
    except requests.RequestException as exc:
        statuses[i] = exc


def run_trace(tmp_path, gpu1, max_pass: str) -> tuple[str, int]:
    """The trace through two gateways: the order the GPU ran the models, swaps."""
    prefix = f"live{uuid.uuid4().hex[:8]}"
    r = redis.Redis.from_url(TEST_REDIS)
    env = {"OLLAMA_GATE_SWAP_MAX_PASS": max_pass}
    gw_a = cluster_gateway(tmp_path / "a", gpu1, prefix, **env)
    gw_a.cli("backends", "set", "gpu1", "--parallel", "1", "--max-loaded", "1")
    gw_b = cluster_gateway(tmp_path / "b", gpu1, prefix, db_url=gw_a.db_url, **env)
    gw_b.cli("backends", "set", "gpu1", "--parallel", "1", "--max-loaded", "1")
    gpu1.gpu = FakeGPU(room=1)
    gw_a.start(), gw_b.start()
    try:
        key = gw_a.key()
        gpu1.hold_second_chunk = True  # the first A runs until every other call waits
        statuses: dict[int, object] = {}
        threads = []
        for i, letter in enumerate(TRACE):
            gw = (gw_a, gw_b)[i % 2]  # every other call to the other host
            args = (gw, key, MODELS[letter], i == 0, statuses, i)
            threads.append(threading.Thread(target=_post, args=args))
            threads[-1].start()
            if i == 0:
                assert gpu1.first_chunk_sent.wait(10)
            else:  # each waits in the line before the next comes: arrival order
                assert wait_for(lambda i=i: len(line(r, prefix)) == i)
        assert len({w["k"] for w in line(r, prefix)}) == 2  # both gateways hold some
        gpu1.hold_second_chunk = False
        gpu1.release.set()
        for t in threads:
            t.join(60)
        assert statuses == dict.fromkeys(range(len(TRACE)), 200)  # all answered
        names = {v + ("" if ":" in v else ":latest"): k for k, v in MODELS.items()}
        return "".join(names[m] for m in gpu1.gpu.started), gpu1.gpu.swaps
    finally:
        gw_a.stop(), gw_b.stop()
        for k in r.scan_iter(f"{prefix}:*"):
            r.delete(k)


def test_two_gateways_run_held_models_first(tmp_path, pool):
    order, swaps = run_trace(tmp_path, pool[0], "30")
    assert order == "AAAABBCC" and swaps == 2


def test_with_no_pass_two_gateways_keep_arrival_order(tmp_path, pool):
    order, swaps = run_trace(tmp_path, pool[0], "0")
    assert order == TRACE and swaps == 6
