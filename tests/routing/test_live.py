"""The fleet under real gunicorn with gevent workers: the official clients over three
backends and an alias, the background health loop failing a dead backend over and
taking it back, a chained gateway behind its own key, and in-flight counts shared
through Redis by two workers."""

from __future__ import annotations

import threading
import time

import ollama
import openai
import pytest
import redis
import requests

from tests.helpers.live import LiveGateway
from tests.helpers.services import REDIS_URL

NAMES = ("gpu1", "gpu2", "gpu3")
TEST_REDIS = REDIS_URL.rsplit("/", 1)[0] + "/12"


def fleet_env(pool, **extra) -> dict[str, str]:
    return {
        "OLLAMA_GATE_HEALTH_INTERVAL": "0.3",
        "OLLAMA_GATE_ALIASES": "gpt-4o=llama3.2",
        **extra,
    }


def backends(pool) -> str:
    return ",".join(f"{n}={f.url}" for n, f in zip(NAMES, pool, strict=True))


@pytest.fixture()
def live_fleet(tmp_path, pool):
    gw = LiveGateway(tmp_path, backends(pool), env=fleet_env(pool)).start()
    yield gw
    gw.stop()


def test_official_clients_over_the_fleet(live_fleet, pool):
    key = live_fleet.key()
    client = ollama.Client(
        host=live_fleet.url, headers={"Authorization": f"Bearer {key}"}
    )
    names = {m.model for m in client.list().models}
    assert {"phi3:mini", "llama3:70b", "qwen2.5:7b", "gpt-4o"} <= names
    parts = list(
        client.chat(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    assert len(parts) > 2 and {p.model for p in parts} == {"gpt-4o"}
    assert parts[-1].done and parts[-1].eval_count
    assert client.generate(model="phi3:mini", prompt="x").response
    oa = openai.OpenAI(base_url=live_fleet.url + "/v1", api_key=key)
    assert "gpt-4o" in {m.id for m in oa.models.list().data}
    stream = oa.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = list(stream)
    assert chunks and {c.model for c in chunks} == {"gpt-4o"}
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    sent = [r.json["model"] for f in pool for r in f.requests if r.method == "POST"]
    assert sorted(sent) == ["llama3.2", "llama3.2", "phi3:mini"]


def test_a_dead_backend_costs_no_call_and_is_taken_back(live_fleet, pool):
    gpu1, gpu2, _ = pool
    gpu1.loaded = ["llama3.2:latest"]  # gpu1 and gpu2 equal for llama3.2
    key = live_fleet.key()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    body = {"model": "llama3.2", "prompt": "x", "stream": False}

    def spread(n: int) -> list[str]:
        out = []
        for _ in range(n):
            resp = session.post(live_fleet.url + "/api/generate", json=body, timeout=10)
            assert resp.status_code == 200, resp.text
            out.append(resp.headers["X-Ollama-Gate-Backend"])
        return out

    assert set(spread(30)) == {"gpu1", "gpu2"}
    gpu2.stop()
    assert set(spread(20)) == {"gpu1"}  # every call answered, none by gpu2
    gpu2.start()
    gpu2.loaded = ["llama3.2:latest"]
    deadline = time.monotonic() + 15  # the health loop notices within a few intervals
    seen: set[str] = set()
    while "gpu2" not in seen and time.monotonic() < deadline:
        seen |= set(spread(5))
        time.sleep(0.2)
    assert "gpu2" in seen
    status = live_fleet.cli("backends", "list").stdout
    assert "gpu2  up" in status


def test_a_chained_gateway_with_its_own_key(live_fleet, gateway, fake):
    """A laptop's gateway hands work to a GPU box's gateway, with the box's key."""
    inner_key = gateway.key("laptop-gateway")
    live_fleet.cli("backends", "add", "box", gateway.url, "--token", inner_key)
    live_fleet.cli("backends", "route", "nomic-embed-text", "box")
    key = live_fleet.key()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the worker reads the new row
        resp = requests.post(
            live_fleet.url + "/api/embed",
            json={"model": "nomic-embed-text", "input": "hello"},
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
        if resp.headers.get("X-Ollama-Gate-Backend") == "box":
            break
        time.sleep(0.2)
    assert resp.status_code == 200, resp.text
    assert resp.headers["X-Ollama-Gate-Backend"] == "box"
    assert resp.json()["embeddings"]
    # the box saw its own key, never the laptop's
    (embed,) = [r for r in fake.requests if r.path == "/api/embed"]
    assert key not in str(embed.headers) and inner_key not in str(embed.headers)
    deadline = time.monotonic() + 10  # the box records it, under its own key
    while time.monotonic() < deadline:
        inner = gateway.cli("history", "export", "--user", "laptop-gateway").stdout
        if "/api/embed" in inner:
            break
        time.sleep(0.2)
    assert '"endpoint": "/api/embed"' in inner or '"/api/embed"' in inner


@pytest.mark.needs_redis
def test_in_flight_counts_are_shared_by_workers_and_go_back_to_zero(tmp_path, pool):
    redis.Redis.from_url(TEST_REDIS).flushdb()
    gw = LiveGateway(
        tmp_path,
        backends(pool),
        workers=2,
        env=fleet_env(pool, OLLAMA_GATE_REDIS_URL=TEST_REDIS),
    ).start()
    try:
        r = redis.Redis.from_url(TEST_REDIS)
        key = gw.key()
        for f in pool:
            f.hold_second_chunk = True

        def held_stream():
            return requests.post(
                gw.url + "/api/generate",
                json={"model": "llama3.2", "prompt": "x"},
                headers={"Authorization": f"Bearer {key}"},
                timeout=30,
            ).status_code

        threads = [threading.Thread(target=held_stream) for _ in range(6)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10

        def counted() -> int:
            return sum(r.zcard(k) for k in r.scan_iter("*:backend:inflight:*"))

        while counted() < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert counted() == 6  # both workers' calls, in one place
        for f in pool:
            f.release.set()
        for t in threads:
            t.join(30)
        deadline = time.monotonic() + 5
        while counted() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert counted() == 0
    finally:
        gw.stop()
