"""The official ``anthropic`` SDK through a live gunicorn gateway in front of the fake
Ollama's ``/v1/messages``: answers, tokens charged, quotas, history, errors."""

from __future__ import annotations

import time
import uuid

import anthropic
import pytest
import requests
from sqlalchemy import select

from ollama_gate.extensions import db
from ollama_gate.history.models import Request
from tests.fakes.ollama import expected_text
from tests.limits.test_quota_dodges import charged

MSGS = [{"role": "user", "content": "Tell a story"}]
SYSTEM = "You are terse."
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
DEADLINE = 30.0  # the gateway records in the background, after the last byte


def sdk(gateway, key: str) -> anthropic.Anthropic:
    """The SDK pointed at the gateway, as Claude Code is (``ANTHROPIC_BASE_URL``)."""
    return anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0)


def fresh_key(gateway, **settings) -> str:
    """A key of a user of its own (records and usage apart from other tests)."""
    return gateway.key(f"anth-{uuid.uuid4().hex[:8]}", **settings)


def wait_charged(gateway, key: str, calls: int) -> tuple[int, int]:
    """(calls, tokens) charged to ``key`` once ``calls`` calls are counted."""
    end = time.monotonic() + DEADLINE
    while True:
        got = charged(gateway.app, key)
        if got[0] >= calls and got[1] or time.monotonic() > end:
            return got
        time.sleep(0.1)


def records_of(gateway, key: str, count: int = 1) -> list[Request]:
    """The history records of ``key``, oldest first, once ``count`` are written."""
    end = time.monotonic() + DEADLINE
    while True:
        with gateway.app.app_context():
            rows = (
                db.session.execute(
                    select(Request)
                    .where(Request.key_prefix == key[:11])
                    .order_by(Request.started_at)
                )
                .scalars()
                .all()
            )
            db.session.expunge_all()
        if len(rows) >= count or time.monotonic() > end:
            return rows
        time.sleep(0.1)


def record_of(gateway, key: str) -> Request:
    """The one history record of ``key``, once written."""
    (row,) = records_of(gateway, key)
    return row


def test_whole_message_is_charged_and_recorded(gateway):
    key = fresh_key(gateway)
    msg = sdk(gateway, key).messages.create(
        model="llama3.2", max_tokens=5, system=SYSTEM, messages=MSGS
    )
    assert msg.content[0].text == expected_text(5)
    used = msg.usage.input_tokens + msg.usage.output_tokens
    assert used > 0
    assert wait_charged(gateway, key, 1) == (1, used)
    row = record_of(gateway, key)
    assert row.endpoint == "/v1/messages" and row.status == 200
    assert row.prompt_tokens == msg.usage.input_tokens
    assert row.completion_tokens == msg.usage.output_tokens
    assert SYSTEM in row.prompt_text and "Tell a story" in row.prompt_text
    assert row.answer_text == expected_text(5)
    assert row.done_reason == "max_tokens"


def test_text_stream_is_charged_its_real_usage(gateway):
    key = fresh_key(gateway)
    client = sdk(gateway, key)
    with client.messages.stream(
        model="llama3.2",
        max_tokens=6,
        system=[{"type": "text", "text": SYSTEM}],
        messages=MSGS,
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == expected_text(6)
    used = final.usage.input_tokens + final.usage.output_tokens
    # the real count, not message_start's estimate
    assert wait_charged(gateway, key, 1) == (1, used)
    row = record_of(gateway, key)
    assert row.streamed and row.answer_text == text
    assert row.prompt_tokens == final.usage.input_tokens
    assert not (row.stats or {}).get("estimated")
    assert SYSTEM in row.prompt_text


@pytest.mark.parametrize("stream", [False, True])
def test_tool_use_is_answered_charged_and_summarised(gateway, stream):
    key = fresh_key(gateway)
    client = sdk(gateway, key)
    args = dict(model="llama3.2", max_tokens=4, messages=MSGS, tools=[WEATHER])
    if stream:
        with client.messages.stream(**args) as s:
            msg = s.get_final_message()
    else:
        msg = client.messages.create(**args)
    (use,) = msg.content
    assert msg.stop_reason == "tool_use" and use.input == {"city": "Paris"}
    follow = [
        *MSGS,
        {"role": "assistant", "content": [use.model_dump()]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}
            ],
        },
    ]
    answer = client.messages.create(
        model="llama3.2", max_tokens=3, messages=follow, tools=[WEATHER]
    )
    assert answer.content[0].text == expected_text(3)
    calls, tokens = wait_charged(gateway, key, 2)
    assert calls == 2
    assert tokens == sum(
        m.usage.input_tokens + m.usage.output_tokens for m in (msg, answer)
    )
    rows = records_of(gateway, key, 2)
    first = rows[0]
    assert first.answer["tool_calls"] == [
        {"id": use.id, "name": "get_weather", "input": {"city": "Paris"}}
    ]
    assert first.done_reason == "tool_use"
    assert "sunny" in rows[1].prompt_text


def test_a_token_quota_is_enforced_through_messages(gateway):
    key = fresh_key(gateway, tokens_per_day=5)
    client = sdk(gateway, key)
    first = client.messages.create(model="llama3.2", max_tokens=5, messages=MSGS)
    assert first.usage.output_tokens == 5  # the call that crosses it completes
    assert wait_charged(gateway, key, 1)[1] >= 5
    with pytest.raises(anthropic.RateLimitError) as caught:
        client.messages.create(model="llama3.2", max_tokens=5, messages=MSGS)
    body = caught.value.body
    assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
    assert "token budget" in body["error"]["message"]
    assert caught.value.response.headers["x-should-retry"] == "false"
    with pytest.raises(anthropic.RateLimitError):  # a stream is refused the same
        with client.messages.stream(
            model="llama3.2", max_tokens=5, messages=MSGS
        ) as stream:
            "".join(stream.text_stream)


def test_a_bad_key_is_an_authentication_error(gateway):
    with pytest.raises(anthropic.AuthenticationError) as caught:
        sdk(gateway, "og_" + "x" * 43).messages.create(
            model="llama3.2", max_tokens=5, messages=MSGS
        )
    body = caught.value.body
    assert body["type"] == "error"
    assert body["error"] == {
        "type": "authentication_error",
        "message": "invalid API key",
    }


def test_x_api_key_as_claude_code_sends_it(gateway):
    key = fresh_key(gateway)
    resp = requests.post(
        gateway.url + "/v1/messages?beta=true",
        json={"model": "llama3.2", "max_tokens": 2, "messages": MSGS},
        headers={"x-api-key": key, "anthropic-version": "2023-06-01"},
        timeout=30,
    )
    assert resp.status_code == 200 and resp.json()["type"] == "message"
    usage = resp.json()["usage"]
    total = usage["input_tokens"] + usage["output_tokens"]
    assert wait_charged(gateway, key, 1) == (1, total)
    with pytest.raises(anthropic.PermissionDeniedError) as caught:
        anthropic.Anthropic(
            base_url=gateway.url,
            api_key=None,
            auth_token=fresh_key(gateway, model_allowlist="qwen*"),
            max_retries=0,
        ).messages.create(model="llama3.2", max_tokens=2, messages=MSGS)
    assert caught.value.body["error"]["type"] == "permission_error"
