"""``/v1/messages`` in the gateway: its own refusals in Anthropic's shape, a stream cut
short still charged, Anthropic answers read for history (the reader alone too)."""

from __future__ import annotations

import json

import pytest

import ollama_gate.call
from ollama_gate.history.conversation import conversation
from ollama_gate.history.models import Request
from ollama_gate.proxy.messages import read_messages
from tests.fakes.ollama import expected_text
from tests.helpers.keys import add_key
from tests.helpers.services import free_port
from tests.limits.test_quota_dodges import charged
from tests.limits.test_quotas import auth
from tests.proxy.test_errors import make_app

MSGS = [{"role": "user", "content": "Tell a story"}]
BODY = {"model": "llama3.2", "max_tokens": 5, "messages": MSGS}


def anthropic_error(resp, status: int, kind: str) -> str:
    """The message of an answer in Anthropic's error shape (asserted)."""
    assert resp.status_code == status
    assert resp.mimetype == "application/json"
    got = resp.get_json()
    assert got["type"] == "error" and got["error"]["type"] == kind
    assert set(got) == {"type", "error"} and set(got["error"]) == {"type", "message"}
    return got["error"]["message"]


def test_missing_key_is_an_authentication_error(client, fake):
    resp = client.post("/v1/messages", json=BODY)
    assert "missing API key" in anthropic_error(resp, 401, "authentication_error")


def test_a_model_not_allowed_is_a_permission_error(app, client, fake):
    key = add_key(app, model_allowlist="qwen*")
    resp = client.post("/v1/messages", json=BODY, headers={"x-api-key": key})
    anthropic_error(resp, 403, "permission_error")


def test_a_call_quota_is_a_rate_limit_error_with_retry_after(app, client, fake):
    key = add_key(app, calls_per_day=1)
    assert client.post("/v1/messages", json=BODY, headers=auth(key)).status_code == 200
    resp = client.post("/v1/messages", json=BODY, headers=auth(key))
    assert "quota" in anthropic_error(resp, 429, "rate_limit_error")
    assert int(resp.headers["Retry-After"]) > 0


def test_body_too_large_is_request_too_large(tmp_path, fake):
    app = make_app(tmp_path, BACKENDS=[fake.url], MAX_BODY_MB=0.001)
    key = add_key(app)
    resp = app.test_client().post(
        "/v1/messages",
        data=b"{" + b" " * 2000 + b"}",
        headers={"X-API-Key": key, "Content-Type": "application/json"},
    )
    assert "larger than" in anthropic_error(resp, 413, "request_too_large")


def test_upstream_unreachable_and_slow_are_api_errors(tmp_path, fake):
    dead = make_app(tmp_path, BACKENDS=[f"http://127.0.0.1:{free_port()}"])
    resp = dead.test_client().post(
        "/v1/messages", json=BODY, headers=auth(add_key(dead))
    )
    assert "unreachable" in anthropic_error(resp, 502, "api_error")
    fake.response_delay = 2
    slow = make_app(tmp_path / "slow", BACKENDS=[fake.url], READ_TIMEOUT=0.3)
    resp = slow.test_client().post(
        "/v1/messages", json=BODY, headers=auth(add_key(slow))
    )
    assert "timed out" in anthropic_error(resp, 504, "api_error")


def test_openai_paths_keep_openais_shape(client, fake):
    resp = client.post("/v1/chat/completions", json={"model": "x"})
    assert resp.get_json()["error"]["type"] == "authentication_error"
    assert "param" in resp.get_json()["error"]


def test_upstreams_own_errors_pass_through(app, client, fake):
    resp = client.post(
        "/v1/messages", json={**BODY, "model": "nope"}, headers=auth(add_key(app))
    )
    assert resp.status_code == 404
    assert resp.get_json()["error"]["type"] == "not_found_error"


def events(data: bytes) -> list[tuple[str, dict]]:
    out = []
    for block in data.decode().split("\n\n"):
        if block:
            name, line = block.split("\n")
            out.append((name.removeprefix("event: "), json.loads(line[6:])))
    return out


def test_a_stream_cut_by_the_upstream_ends_in_an_error_event_and_is_charged(
    app, client, fake
):
    key = add_key(app)
    fake.fail_mid_stream_after = 5  # message_start, block start, three tokens
    resp = client.post("/v1/messages", json={**BODY, "stream": True}, headers=auth(key))
    evs = events(resp.get_data())
    name, data = evs[-1]
    assert name == "error" and data["type"] == "error"
    assert data["error"]["type"] == "api_error"
    assert "upstream stream failed" in data["error"]["message"]
    calls, tokens = charged(app, key)
    # three tokens relayed, and the prompt at four characters a token
    prompt = len("userTell a story") // 4
    assert (calls, tokens) == (1, 3 + prompt)


def test_a_stream_hung_up_early_is_charged_what_it_relayed(app, client, fake):
    key = add_key(app)
    fake.hold_second_chunk = True
    resp = client.post(
        "/v1/messages",
        json={**BODY, "stream": True},
        headers=auth(key),
        buffered=False,
    )
    first = next(iter(resp.response))
    assert first.startswith(b"event: message_start\n")
    resp.close()
    fake.release.set()
    calls, tokens = charged(app, key)
    assert calls == 1 and tokens > 0  # the prompt, estimated


def test_a_whole_answer_is_charged_its_usage(app, client, fake):
    key = add_key(app)
    resp = client.post("/v1/messages", json=BODY, headers=auth(key))
    usage = resp.get_json()["usage"]
    assert charged(app, key) == (1, usage["input_tokens"] + usage["output_tokens"])


def delta(index: int, **fields) -> dict:
    """A ``content_block_delta`` event's data."""
    return {"type": "content_block_delta", "index": index, "delta": fields}


def test_reader_takes_anthropics_own_stream_shape():
    """Anthropic's API counts input at message_start and output at message_delta,
    and pings; a tool's input comes in pieces."""
    tool = {"type": "tool_use", "id": "t1", "name": "f", "input": {}}
    objs = [
        {"type": "message_start", "message": {"usage": {"input_tokens": 21}}},
        {"type": "ping"},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}},
        delta(0, type="text_delta", text="Hi"),
        {"type": "content_block_start", "index": 1, "content_block": tool},
        delta(1, type="input_json_delta", partial_json='{"a": '),
        delta(1, type="input_json_delta", partial_json="1}"),
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use"},
            "usage": {"output_tokens": 7},
        },
        {"type": "message_stop"},
    ]
    text, thinking, tools, stats = [], [], [], {}
    read_messages(objs, text, thinking, tools, stats)
    assert "".join(text) == "Hi" and thinking == []
    assert tools == [{"id": "t1", "name": "f", "input": {"a": 1}}]
    assert stats == {
        "done_reason": "tool_use",
        "prompt_tokens": 21,
        "completion_tokens": 7,
    }


def test_reader_keeps_an_error_and_no_counts_from_message_start_alone():
    objs = [
        {"type": "message_start", "message": {"usage": {"input_tokens": 9}}},
        {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}},
    ]
    stats: dict = {}
    read_messages(objs, [], [], [], stats)
    assert stats == {"error": "busy"}  # no counts: the call is estimated


def test_history_shows_system_blocks_and_tool_turns(app, client, fake):
    key = add_key(app)
    body = {
        **BODY,
        "system": [{"type": "text", "text": "Be terse."}],
        "messages": [
            *MSGS,
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "c1", "name": "f", "input": {"a": 1}}
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "c1", "content": "42"}
                ],
            },
        ],
    }
    assert client.post("/v1/messages", json=body, headers=auth(key)).status_code == 200
    app.extensions["ollama_gate"].recorder.flush()
    with app.app_context():
        from ollama_gate.extensions import db

        row = db.session.execute(db.select(Request)).scalar_one()
        turns = conversation(row)
    assert [t["role"] for t in turns] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    assert turns[0]["text"] == "Be terse."
    assert '"name": "f"' in turns[2]["tool_calls"]
    assert turns[3]["text"] == "42"
    assert turns[-1]["text"] == expected_text(5)
    assert "Be terse." in row.prompt_text and "42" in row.prompt_text


@pytest.mark.parametrize("stream", [False, True])
def test_thinking_is_recorded_apart(app, client, fake, stream):
    key = add_key(app)
    body = {**BODY, "model": "qwen2.5:7b", "thinking": {"type": "enabled"}}
    resp = client.post(
        "/v1/messages", json={**body, "stream": stream}, headers=auth(key)
    )
    resp.get_data()  # to its last byte: the call is finished then
    app.extensions["ollama_gate"].recorder.flush()
    with app.app_context():
        from ollama_gate.extensions import db

        row = db.session.execute(db.select(Request)).scalar_one()
    assert row.answer["thinking"].startswith("Let me think")
    assert row.answer_text == expected_text(5)


def test_a_browser_may_send_the_anthropic_sdks_headers(client, fake):
    pre = client.options(
        "/v1/messages",
        headers={
            "Origin": "http://localhost:5173",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "anthropic-version, x-api-key",
        },
    )
    assert pre.status_code == 204
    allowed = {
        h.strip().lower()
        for h in pre.headers["Access-Control-Allow-Headers"].split(",")
    }
    for name in (
        "anthropic-version",
        "anthropic-beta",
        "anthropic-dangerous-direct-browser-access",
        "x-api-key",
    ):
        assert name in allowed
    refused = client.options(
        "/v1/messages",
        headers={
            "Origin": "http://evil.example",
            "Access-Control-Request-Method": "POST",
        },
    )
    anthropic_error(refused, 403, "permission_error")


@pytest.mark.parametrize("stream", [False, True])
def test_an_answer_past_the_kept_bound_keeps_its_usage(
    app, client, fake, monkeypatch, stream
):
    monkeypatch.setattr(ollama_gate.call, "MAX_KEPT_BYTES", 300)
    key = add_key(app)
    body = {**BODY, "max_tokens": 40, "stream": stream}
    resp = client.post("/v1/messages", json=body, headers=auth(key))
    data = resp.get_data()
    usage = events(data)[-2][1]["usage"] if stream else resp.get_json()["usage"]
    assert len(data) > 300 and usage["output_tokens"] == 40
    assert charged(app, key) == (1, usage["input_tokens"] + usage["output_tokens"])
