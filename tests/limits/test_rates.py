"""Per-key rate limits: answers, headers, global default and overrides, exactness."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
import requests

from ollama_gate import create_app
from ollama_gate.extensions import db
from tests.helpers.keys import add_key
from tests.helpers.live import LiveGateway

CHAT = {
    "model": "llama3.2",
    "messages": [{"role": "user", "content": "Hi"}],
    "stream": False,
}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture()
def make_app(tmp_path, fake_server):
    """Build an app on a fresh SQLite database with extra settings."""
    apps = []

    def make(**settings):
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "test-secret",
                "SQLALCHEMY_DATABASE_URI": "sqlite:///"
                + str(tmp_path / f"gate{len(apps)}.db"),
                "BACKENDS": [fake_server.url],
                "KEY_CACHE_SECONDS": 0.0,
                **settings,
            }
        )
        with app.app_context():
            db.create_all()
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["ollama_gate"].recorder.flush()
        with app.app_context():
            db.engine.dispose()


def test_refusal_in_the_native_shape_with_headers(app, client, fake):
    key = add_key(app, rate_limit="2/minute")
    for _ in range(2):
        assert client.post("/api/chat", json=CHAT, headers=auth(key)).status_code == 200
    before = len(fake.requests)
    resp = client.post("/api/chat", json=CHAT, headers=auth(key))
    assert resp.status_code == 429
    assert "rate limit of 2 per 1 minute" in resp.get_json()["error"]
    assert 55 <= int(resp.headers["Retry-After"]) <= 60
    assert resp.headers["X-RateLimit-Limit"] == "2"
    assert resp.headers["X-RateLimit-Remaining"] == "0"
    assert 0 < int(resp.headers["X-RateLimit-Reset"]) - time.time() <= 61
    assert "x-should-retry" not in resp.headers  # a short wait: clients may retry
    assert len(fake.requests) == before


def test_refusal_in_the_openai_shape(app, client):
    key = add_key(app, rate_limit="1/hour")
    assert (
        client.post("/v1/chat/completions", json=CHAT, headers=auth(key)).status_code
        == 200
    )
    resp = client.post("/v1/chat/completions", json=CHAT, headers=auth(key))
    assert resp.status_code == 429
    err = resp.get_json()["error"]
    assert err["type"] == "rate_limit_error" and "1 per 1 hour" in err["message"]
    assert int(resp.headers["Retry-After"]) > 3500
    assert resp.headers["x-should-retry"] == "false"  # past what a client should wait


def test_every_api_call_counts_and_keys_count_apart(app, client):
    key, other = (
        add_key(app, rate_limit="3/minute"),
        add_key(app, "bob", rate_limit="3/minute"),
    )
    codes = [
        client.get(path, headers=auth(key)).status_code
        for path in ("/api/tags", "/api/version", "/v1/models", "/api/ps")
    ]
    assert codes == [200, 200, 200, 429]
    assert client.get("/api/tags", headers=auth(other)).status_code == 200


def test_global_default_and_per_key_overrides(make_app):
    app = make_app(RATE_LIMIT="2/minute")
    client = app.test_client()
    default, own, free = (
        add_key(app),
        add_key(app, rate_limit="4/minute"),
        add_key(app, rate_limit="unlimited"),
    )

    def passed(key, n=6):
        return sum(
            client.get("/api/version", headers=auth(key)).status_code == 200
            for _ in range(n)
        )

    assert (passed(default), passed(own), passed(free)) == (2, 4, 6)


def test_no_global_limit_when_empty(make_app):
    app = make_app(RATE_LIMIT="")
    client, key = app.test_client(), add_key(app)
    assert all(
        client.get("/api/version", headers=auth(key)).status_code == 200
        for _ in range(30)
    )


def test_several_limits_refuse_on_the_one_exceeded(app, client):
    key = add_key(app, rate_limit="10/hour;3/minute")
    codes = [
        client.get("/api/version", headers=auth(key)).status_code for _ in range(4)
    ]
    assert codes == [200, 200, 200, 429]
    resp = client.get("/api/version", headers=auth(key))
    assert "3 per 1 minute" in resp.get_json()["error"]
    assert resp.headers["X-RateLimit-Limit"] == "3"


def test_fixed_window_strategy(make_app):
    app = make_app(RATE_LIMIT="3/hour", RATE_LIMIT_STRATEGY="fixed-window")
    client, key = app.test_client(), add_key(app)
    codes = [
        client.get("/api/version", headers=auth(key)).status_code for _ in range(5)
    ]
    assert codes == [200, 200, 200, 429, 429]


def test_refused_key_is_never_counted(app, client):
    key = add_key(app, rate_limit="2/minute", model_allowlist="llama3*")
    for _ in range(3):  # refused by the allowlist first: spends no rate
        client.post(
            "/api/chat", json={**CHAT, "model": "qwen2.5:7b"}, headers=auth(key)
        )
    assert client.post("/api/chat", json=CHAT, headers=auth(key)).status_code == 200


def burst(url: str, key: str, n: int, path: str = "/api/version") -> list[int]:
    """``n`` calls at once, each on its own connection; their status codes."""

    def one(_):
        return requests.get(url + path, headers=auth(key), timeout=30).status_code

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def test_exact_under_concurrency_in_one_worker(gateway):
    key = gateway.key(rate_limit="10/minute")
    codes = burst(gateway.url, key, 60)
    assert codes.count(200) == 10 and codes.count(429) == 50


def test_openai_client_sees_retry_after(gateway):
    key = gateway.key(rate_limit="1/minute")
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)
    client.chat.completions.create(**{k: v for k, v in CHAT.items() if k != "stream"})
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(
            **{k: v for k, v in CHAT.items() if k != "stream"}
        )
    headers = info.value.response.headers
    assert 1 <= int(headers["retry-after"]) <= 60
    assert headers["x-ratelimit-limit"] == "1"
    assert "rate limit of 1 per 1 minute" in info.value.message


def test_refuses_to_start_with_two_workers_and_memory_counters(tmp_path, fake_server):
    gw = LiveGateway(
        tmp_path, fake_server.url, workers=2, env={"OLLAMA_GATE_REDIS_URL": ""}
    )
    with pytest.raises(RuntimeError) as info:
        gw.start()
    gw.stop()
    assert "2 workers need OLLAMA_GATE_REDIS_URL" in str(info.value)


def test_memory_storage_is_exact_and_starts_no_timer(monkeypatch):
    """The worker's own storage: exactly N in any window, expired ones let go."""
    from limits import parse
    from limits.strategies import MovingWindowRateLimiter

    from ollama_gate.limits import memory

    storage = memory.SweptMemoryStorage("gate-memory://")
    assert not storage.timer.is_alive()  # limits' 10 ms timer is not running
    clock = [1000.0]
    monkeypatch.setattr(memory.time, "time", lambda: clock[0])
    monkeypatch.setattr("limits.storage.memory.time.time", lambda: clock[0])
    limiter = MovingWindowRateLimiter(storage)
    item = parse("3/minute")
    assert [limiter.hit(item, "key", "1") for _ in range(5)] == [1, 1, 1, 0, 0]
    assert limiter.hit(item, "key", "2")  # another key has its own window
    clock[0] += 30
    assert not limiter.hit(item, "key", "1")  # still inside the minute
    clock[0] += 30.5
    assert [limiter.hit(item, "key", "1") for _ in range(4)] == [1, 1, 1, 0]
    assert len(storage.events[limiter_key(item, "1")]) == 3  # old entries dropped
    assert not storage.timer.is_alive()
    clock[0] += 120  # every window expired: a sweep lets the keys go
    storage.sweep()
    assert storage.events == {}


def limiter_key(item, key: str) -> str:
    return item.key_for("key", key)


def test_memory_storage_is_the_default_without_redis(app):
    from ollama_gate.extensions import limiter
    from ollama_gate.limits.memory import SweptMemoryStorage

    with app.app_context():
        assert isinstance(limiter.storage, SweptMemoryStorage)
