"""Per-key quotas: real token statistics, exact call counts, clear refusals."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from ollama_gate import create_app
from ollama_gate.extensions import db
from ollama_gate.limits.usage import (
    Usage,
    day_period,
    month_period,
    period_reset,
    week_period,
)
from ollama_gate.models import ApiKey, utcnow
from tests.helpers.keys import add_key

MSGS = [{"role": "user", "content": "Tell me a story about a fox"}]


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def lines(resp) -> list[dict]:
    """The JSON objects of an NDJSON or SSE answer."""
    out = []
    for line in resp.get_data().split(b"\n"):
        line = line.removeprefix(b"data: ").strip()
        if line and line != b"[DONE]":
            out.append(json.loads(line))
    return out


def native_tokens(resp) -> int:
    last = lines(resp)[-1]
    return last.get("prompt_eval_count", 0) + last.get("eval_count", 0)


def openai_tokens(resp) -> int:
    return [o for o in lines(resp) if o.get("usage")][-1]["usage"]["total_tokens"]


def usage_rows(app, key_prefix: str) -> dict[str, tuple[int, int]]:
    app.extensions["ollama_gate"].recorder.flush()
    with app.app_context():
        key = db.session.execute(
            db.select(ApiKey).where(ApiKey.prefix == key_prefix)
        ).scalar_one()
        rows = db.session.execute(
            db.select(Usage).where(Usage.key_id == key.id)
        ).scalars()
        return {row.period: (row.calls, row.tokens) for row in rows}


def test_tokens_counted_from_real_statistics(app, client, fake):
    key = add_key(app)
    h = auth(key)
    calls = [
        (
            client.post(
                "/api/generate",
                json={"model": "llama3.2", "prompt": "Once upon"},
                headers=h,
            ),
            native_tokens,
        ),  # streamed NDJSON
        (
            client.post(
                "/api/chat",
                json={"model": "llama3.2", "messages": MSGS, "stream": False},
                headers=h,
            ),
            native_tokens,
        ),
        (
            client.post(
                "/api/embed",
                json={"model": "nomic-embed-text", "input": ["a b c", "d e"]},
                headers=h,
            ),
            native_tokens,
        ),
        (
            client.post(
                "/v1/chat/completions",
                json={"model": "llama3.2", "messages": MSGS, "max_tokens": 5},
                headers=h,
            ),
            openai_tokens,
        ),
        (
            client.post(
                "/v1/chat/completions",
                json={
                    "model": "llama3.2",
                    "messages": MSGS,
                    "stream": True,
                    "stream_options": {"include_usage": True},
                },
                headers=h,
            ),
            openai_tokens,
        ),
        (
            client.post(
                "/v1/embeddings",
                json={"model": "nomic-embed-text", "input": "a b c"},
                headers=h,
            ),
            openai_tokens,
        ),
    ]
    expected = 0
    for resp, count in calls:
        assert resp.status_code == 200, resp.get_data()
        n = count(resp)
        assert n > 0
        expected += n
    client.get("/api/tags", headers=h)  # model lists and metadata are not inference
    client.post("/api/show", json={"model": "llama3.2"}, headers=h)
    now = utcnow()
    assert usage_rows(app, key[:11]) == {
        day_period(now): (6, expected),
        week_period(now): (6, expected),
        month_period(now): (6, expected),
    }


def test_token_quota_refuses_once_used_up(app, client, fake):
    key = add_key(app, tokens_per_day=30)
    body = {"model": "llama3.2", "prompt": "one two three", "stream": False}
    used = 0
    while used < 30:
        resp = client.post("/api/generate", json=body, headers=auth(key))
        assert resp.status_code == 200
        used += native_tokens(resp)
        app.extensions[
            "ollama_gate"
        ].recorder.flush()  # tokens arrive after the last byte
    before = len(fake.requests)
    resp = client.post("/api/generate", json=body, headers=auth(key))
    assert resp.status_code == 429
    message = resp.get_json()["error"]
    assert (
        f"this API key's daily token budget is used up ({used} of 30 tokens)" in message
    )
    reset = period_reset(day_period(utcnow()))
    assert f"resets at {reset:%Y-%m-%d} 00:00 UTC" in message
    assert resp.headers["x-should-retry"] == "false"
    assert resp.headers["X-RateLimit-Limit"] == "30"
    wait = int(resp.headers["Retry-After"])
    assert abs(wait - (reset - utcnow()).total_seconds()) < 5
    assert len(fake.requests) == before
    # the refused call counts nowhere; other endpoints still work
    assert client.get("/api/tags", headers=auth(key)).status_code == 200


def test_openai_shape_and_monthly_call_quota(app, client):
    key = add_key(app, calls_per_month=2)
    body = {"model": "llama3.2", "messages": MSGS}
    codes = [
        client.post("/v1/chat/completions", json=body, headers=auth(key)).status_code
        for _ in range(3)
    ]
    assert codes == [200, 200, 429]
    resp = client.post("/v1/chat/completions", json=body, headers=auth(key))
    err = resp.get_json()["error"]
    assert err["type"] == "rate_limit_error"
    assert (
        "monthly call quota of this API key is used up (2 of 2 calls)" in err["message"]
    )
    now = utcnow()
    assert usage_rows(app, key[:11])[month_period(now)][0] == 2


def test_usage_survives_a_restart(app, client, tmp_path, fake_server):
    key = add_key(app, calls_per_day=3)
    body = {"model": "llama3.2", "prompt": "x", "stream": False}
    for _ in range(2):
        assert (
            client.post("/api/generate", json=body, headers=auth(key)).status_code
            == 200
        )
    app.extensions["ollama_gate"].recorder.flush()
    again = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "s",
            "KEY_CACHE_SECONDS": 0.0,
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "BACKENDS": [fake_server.url],
        }
    )
    second = again.test_client()
    codes = [
        second.post("/api/generate", json=body, headers=auth(key)).status_code
        for _ in range(2)
    ]
    assert codes == [200, 429]
    again.extensions["ollama_gate"].recorder.flush()
    with again.app_context():
        db.engine.dispose()


def test_quota_set_after_use_counts_earlier_calls(app, client):
    key = add_key(app)
    body = {"model": "llama3.2", "prompt": "x", "stream": False}
    for _ in range(2):
        client.post("/api/generate", json=body, headers=auth(key))
    app.extensions["ollama_gate"].recorder.flush()
    with app.app_context():
        row = db.session.execute(db.select(ApiKey)).scalar_one()
        row.calls_per_day = 3
        db.session.commit()
    codes = [
        client.post("/api/generate", json=body, headers=auth(key)).status_code
        for _ in range(2)
    ]
    assert codes == [200, 429]


def test_calls_quota_exact_under_concurrency(gateway):
    key = gateway.key(calls_per_day=7)
    body = {"model": "llama3.2", "messages": MSGS, "stream": False}

    def one(_):
        return requests.post(
            gateway.url + "/api/chat", json=body, headers=auth(key), timeout=30
        ).status_code

    with ThreadPoolExecutor(40) as pool:
        codes = list(pool.map(one, range(40)))
    assert codes.count(200) == 7 and codes.count(429) == 33
    deadline = time.monotonic() + 10
    while True:  # the recorder writes the usage after the last byte
        out = gateway.cli("keys", "usage", key[:11]).stdout
        if "calls 7 / 7" in out or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert "today" in out and "calls 7 / 7" in out


@pytest.mark.parametrize(
    ("hour", "expected"),
    [
        ("d:2026-11-22", "2026-11-23 00:00"),
        ("d:2026-12-31", "2027-01-01 00:00"),
        ("m:2026-02", "2026-03-01 00:00"),
        ("m:2026-12", "2027-01-01 00:00"),
    ],
)
def test_period_resets(hour, expected):
    assert f"{period_reset(hour):%Y-%m-%d %H:%M}" == expected


def test_openai_client_does_not_resend_over_quota(gateway):
    import openai

    # 3 calls a minute: the refused call's resends would spend the rest of them
    key = gateway.key(calls_per_day=1, rate_limit="3/minute")
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=2)
    client.chat.completions.create(model="llama3.2", messages=MSGS)
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="llama3.2", messages=MSGS)
    assert "daily call quota" in info.value.message
    assert info.value.response.headers["x-should-retry"] == "false"
    assert requests.get(gateway.url + "/api/tags", headers=auth(key)).status_code == 200


@pytest.mark.parametrize("path", ["/api/generate", "/v1/completions"])
def test_database_down_while_seeding_quotas_is_503_and_frees_the_slot(
    app, client, fake, path
):
    """The usage query failing (database locked or gone) is a 503, not a 500."""
    from sqlalchemy.exc import OperationalError

    def down(key_id, period):
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    key = add_key(app, calls_per_day=5, max_concurrency=1)
    state = app.extensions["ollama_gate_limits"]
    state.quotas.counters._load = down
    body = {"model": "llama3.2", "prompt": "hi", "stream": False}
    resp = client.post(path, json=body, headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 503 and resp.headers["Retry-After"]
    assert "error" in resp.get_json() and not fake.requests
    with app.app_context():
        key_id = db.session.execute(db.select(ApiKey.id)).scalar_one()
    assert state.concurrency.slots.in_flight(key_id) == 0


@pytest.mark.parametrize("path", ["/api/generate/", "/v1/completions/"])
def test_trailing_slash_does_not_escape_the_call_quota(app, client, fake, path):
    """The path goes upstream as sent; whoever reads it as the endpoint, it counts."""
    key = add_key(app, calls_per_day=1)
    headers = {"Authorization": f"Bearer {key}"}
    body = {"model": "llama3.2", "prompt": "hi", "stream": False}
    client.post(path.rstrip("/"), json=body, headers=headers).get_data()
    resp = client.post(path, json=body, headers=headers)
    assert resp.status_code == 429
    assert len(fake.requests) == 1
