"""Every admitted call is charged: no stream framing, hang-up or size dodges a token
quota (issue 16's high finding)."""

from __future__ import annotations

import json
import time

import openai
import pytest

import ollama_gate.call
from ollama_gate.proxy.usage import strip_usage
from ollama_gate.upstream import LastPiece
from tests.helpers.keys import add_key
from tests.limits.test_quotas import auth, lines, usage_rows

CHAT = {"model": "llama3.2", "messages": [{"role": "user", "content": "Tell a story"}]}


def charged(app, key: str) -> tuple[int, int]:
    """(calls, tokens) charged today to ``key``."""
    rows = usage_rows(app, key[:11])
    return next((v for p, v in rows.items() if p.startswith("d")), (0, 0))


def v1_stream(client, key, path="/v1/chat/completions", **extra):
    body = {**CHAT, "stream": True, **extra}
    if path == "/v1/completions":
        body = {"model": "llama3.2", "prompt": "Tell a story", "stream": True, **extra}
    return client.post(path, headers=auth(key), json=body)


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions"])
def test_v1_stream_without_include_usage_is_charged_and_shows_no_usage(
    app, client, fake, path
):
    key = add_key(app)
    resp = v1_stream(client, key, path)
    assert resp.status_code == 200
    assert resp.get_data().endswith(b"data: [DONE]\n\n")
    objs = lines(resp)
    assert objs and all("usage" not in obj for obj in objs)  # not asked: not shown
    assert all(obj["choices"] for obj in objs)  # the usage-only chunk is gone
    sent = json.loads(fake.requests_to(path)[-1]["body"])
    assert sent["stream_options"] == {"include_usage": True}
    calls, tokens = charged(app, key)
    assert calls == 1 and tokens > 0


def test_v1_stream_that_asks_for_usage_gets_it_unchanged(app, client, fake):
    key = add_key(app)
    resp = v1_stream(client, key, stream_options={"include_usage": True})
    usage = [o["usage"] for o in lines(resp) if o.get("usage")]
    assert len(usage) == 1 and usage[0]["total_tokens"] > 0
    assert charged(app, key) == (1, usage[0]["total_tokens"])


def test_openai_sdk_default_stream_is_charged_through_the_live_gateway(gateway):
    key = gateway.key("sdk-user")
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key)
    chunks = list(
        client.chat.completions.create(
            model="llama3.2", messages=CHAT["messages"], stream=True
        )
    )
    assert chunks and all(chunk.usage is None for chunk in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    for _ in range(100):  # the gateway's recorder writes in the background
        calls, tokens = charged(gateway.app, key)
        if tokens:
            break
        time.sleep(0.1)
    assert calls == 1 and tokens > 0, "the SDK's default stream was never charged"


def test_a_native_stream_hung_up_early_is_charged_what_it_relayed(app, client, fake):
    key = add_key(app)
    fake.hold_second_chunk = True  # the stream stays open after its first token
    resp = client.post(
        "/api/chat", headers=auth(key), json={**CHAT, "stream": True}, buffered=False
    )
    first = next(iter(resp.response))
    assert json.loads(first.splitlines()[0])["done"] is False
    resp.close()  # the client hangs up before the last line and its statistics
    fake.release.set()
    calls, tokens = charged(app, key)
    # one token relayed, and the prompt's 16 characters ("user", "Tell a story") at 4
    assert (calls, tokens) == (1, 1 + 4)


def test_a_hung_up_stream_uses_up_the_quota_for_the_next_call(app, client, fake):
    key = add_key(app, tokens_per_day=2)
    fake.hold_second_chunk = True
    resp = client.post(
        "/api/chat", headers=auth(key), json={**CHAT, "stream": True}, buffered=False
    )
    next(iter(resp.response))
    resp.close()
    fake.release.set()
    app.extensions["ollama_gate"].recorder.flush()
    again = client.post("/api/chat", headers=auth(key), json={**CHAT, "stream": False})
    assert again.status_code == 429
    assert "token budget" in again.get_json()["error"]


@pytest.mark.parametrize("stream", [True, False])
def test_an_answer_past_the_kept_bound_keeps_its_statistics(
    app, client, fake, monkeypatch, stream
):
    monkeypatch.setattr(ollama_gate.call, "MAX_KEPT_BYTES", 300)
    key = add_key(app)
    resp = client.post(
        "/api/generate",
        headers=auth(key),
        json={"model": "llama3.2", "prompt": "a long one", "stream": stream},
    )
    last = lines(resp)[-1]
    exact = last["prompt_eval_count"] + last["eval_count"]
    assert len(resp.get_data()) > 300 and exact > 0
    assert charged(app, key) == (1, exact)


def test_a_call_admitted_with_room_finishes_and_the_next_is_refused(app, client, fake):
    key = add_key(app, tokens_per_day=5)
    first = client.post("/api/chat", headers=auth(key), json={**CHAT, "stream": False})
    assert first.status_code == 200 and first.get_json()["done"] is True
    used = first.get_json()["prompt_eval_count"] + first.get_json()["eval_count"]
    assert used > 5  # one call used more than the whole quota: it still finished
    app.extensions["ollama_gate"].recorder.flush()
    second = client.post("/api/chat", headers=auth(key), json={**CHAT, "stream": False})
    assert second.status_code == 429


def test_strip_usage_keeps_events_whole_and_the_last_piece_marked():
    finish = b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    usage = b'data: {"id":"x","choices":[],"usage":{"total_tokens":3}}\n\n'
    zeroed = (
        b'data: {"choices":[{"text":"a"}],"usage":{"prompt_tokens":0,'
        b'"completion_tokens":0,"total_tokens":0}}\n\n'
    )
    pieces = [
        zeroed,
        b'data: {"choices":[1]}\n\ndata: {"ch',
        LastPiece(finish + usage + b"data: [DONE]\n\n"),
    ]
    out = [strip_usage(piece) for piece in pieces]
    assert out[0] == b'data: {"choices":[{"text":"a"}]}\n\n'
    assert out[1] == pieces[1]  # no usage in it: passed as it came, partial event too
    assert out[2] == finish + b"data: [DONE]\n\n" and type(out[2]) is LastPiece
