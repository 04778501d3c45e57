"""The headroom and the hand-off under real gunicorn: two gateways (two masters, one
database, one Redis) as two hosts. A flood's second call waits while a newcomer's
call starts at once on the slot kept for it, and a slot freed on one host and granted
to a call waiting on the other shows in that host's hand-off histogram."""

from __future__ import annotations

import threading
import uuid

import pytest
import redis
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.scheduler.test_cluster_live import TEST_REDIS, cluster_gateway, line
from tests.scheduler.test_live import generate, wait_for

pytestmark = pytest.mark.needs_redis


def prompts(gpu1) -> list[str]:
    """The prompts of the calls the backend began, in order."""
    return [
        q.json.get("prompt")
        for q in gpu1.requests
        if q.path == "/api/generate" and q.json
    ]


def run(gw, key, prompt, statuses) -> threading.Thread:
    def one():
        statuses[prompt] = generate(gw, key, prompt, stream=True).status_code

    t = threading.Thread(target=one)
    t.start()
    return t


def two_hosts(tmp_path, gpu1, prefix, **env):
    gw_a = cluster_gateway(tmp_path / "a", gpu1, prefix, **env)
    gw_b = cluster_gateway(tmp_path / "b", gpu1, prefix, db_url=gw_a.db_url, **env)
    return gw_a, gw_b


def test_a_newcomer_starts_at_once_beside_a_flood_across_hosts(tmp_path, pool):
    gpu1 = pool[0]
    prefix = f"live{uuid.uuid4().hex[:8]}"
    r = redis.Redis.from_url(TEST_REDIS)
    gw_a, gw_b = two_hosts(tmp_path, gpu1, prefix, OLLAMA_GATE_QUEUE_HEADROOM="1")
    gw_a.cli("backends", "set", "gpu1", "--parallel", "2")
    gw_a.start(), gw_b.start()
    threads = []
    try:
        flood, quiet = gw_a.key("flood"), gw_a.key("quiet")
        gpu1.parallel = 100
        gpu1.hold_second_chunk = True  # every stream holds its slot until released
        statuses: dict[str, int] = {}
        threads.append(run(gw_a, flood, "f1", statuses))
        assert gpu1.first_chunk_sent.wait(10)
        threads.append(run(gw_b, flood, "f2", statuses))  # one slot free: kept
        assert wait_for(lambda: len(line(r, prefix)) == 1)
        threads.append(run(gw_b, quiet, "q1", statuses))  # takes it at once
        assert wait_for(lambda: "q1" in prompts(gpu1))
        assert prompts(gpu1) == ["f1", "q1"]
        assert len(line(r, prefix)) == 1  # f2 still waits
        gpu1.hold_second_chunk = False
        gpu1.release.set()
        for t in threads:
            t.join(30)
        assert statuses == {"f1": 200, "f2": 200, "q1": 200}
        assert prompts(gpu1) == ["f1", "q1", "f2"]
    finally:
        gpu1.release.set()
        gw_a.stop(), gw_b.stop()
        for k in r.scan_iter(f"{prefix}:*"):
            r.delete(k)


def handoffs(gw) -> dict[str, float]:
    """The host's hand-off counts by label (``/metrics``, every worker's)."""
    text = requests.get(gw.url + "/metrics", timeout=10).text
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "ollama_gate_queue_handoff_seconds_count":
                counts[s.labels["worker"]] = s.value
    return counts


def test_a_slot_freed_on_one_host_and_granted_on_the_other_is_timed(tmp_path, pool):
    gpu1 = pool[0]
    prefix = f"live{uuid.uuid4().hex[:8]}"
    r = redis.Redis.from_url(TEST_REDIS)
    gw_a, gw_b = two_hosts(tmp_path, gpu1, prefix)  # one slot
    gw_a.start(), gw_b.start()
    threads = []
    try:
        holder, waiter = gw_a.key("holder"), gw_a.key("waiter")
        gpu1.parallel = 100
        gpu1.hold_second_chunk = True
        statuses: dict[str, int] = {}
        threads.append(run(gw_a, holder, "held", statuses))
        assert gpu1.first_chunk_sent.wait(10)
        threads.append(run(gw_b, waiter, "w1", statuses))
        assert wait_for(lambda: len(line(r, prefix)) == 1)
        gpu1.hold_second_chunk = False
        gpu1.release.set()  # host a gives the slot back; host b's call takes it
        for t in threads:
            t.join(30)
        assert statuses == {"held": 200, "w1": 200}
        assert handoffs(gw_b).get("other") == 1
        assert not handoffs(gw_a).get("other") and not handoffs(gw_a).get("same")
    finally:
        gpu1.release.set()
        gw_a.stop(), gw_b.stop()
        for k in r.scan_iter(f"{prefix}:*"):
            r.delete(k)
