"""Checks the fake Ollama's ``/v1/messages`` against the official ``anthropic`` SDK and
Ollama's wire format (``anthropic/anthropic.go``)."""

from __future__ import annotations

import json

import anthropic
import pytest
import requests

from tests.fakes.ollama import expected_text

MSGS = [{"role": "user", "content": "Tell a story"}]
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.fixture
def sdk(fake):
    client = anthropic.Anthropic(base_url=fake.url, api_key="x", max_retries=0)
    yield client
    client.close()


def events(body: bytes) -> list[tuple[str, dict]]:
    """The (name, data) of each named SSE event of a stream."""
    out = []
    for block in body.decode().split("\n\n"):
        if not block:
            continue
        name, data = block.split("\n")
        assert name.startswith("event: ") and data.startswith("data: ")
        out.append((name[7:], json.loads(data[6:])))
    return out


def test_whole_message(sdk, fake):
    msg = sdk.messages.create(model="llama3.2", max_tokens=5, messages=MSGS)
    assert msg.type == "message" and msg.role == "assistant"
    assert msg.id.startswith("msg_") and msg.model == "llama3.2"
    assert [b.type for b in msg.content] == ["text"]
    assert msg.content[0].text == expected_text(5)
    assert msg.stop_reason == "max_tokens"
    assert msg.usage.input_tokens == 3 and msg.usage.output_tokens == 5


def test_stream_events_in_ollamas_order(fake):
    body = {"model": "llama3.2", "max_tokens": 3, "messages": MSGS, "stream": True}
    resp = requests.post(fake.url + "/v1/messages", json=body, timeout=10)
    assert resp.headers["Content-Type"] == "text/event-stream"
    evs = events(resp.content)
    names = [name for name, _ in evs]
    assert names == [
        "message_start",
        "content_block_start",
        *["content_block_delta"] * 3,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert all(data["type"] == name for name, data in evs)
    start = evs[0][1]["message"]
    assert start["content"] == [] and start["usage"]["output_tokens"] == 0
    assert start["usage"]["input_tokens"] == len("userTell a story") // 4  # estimate
    assert evs[1][1]["content_block"] == {"type": "text", "text": ""}
    deltas = "".join(d["delta"]["text"] for n, d in evs if n == "content_block_delta")
    assert deltas == expected_text(3)
    assert evs[-2][1] == {
        "type": "message_delta",
        "delta": {"stop_reason": "max_tokens"},
        "usage": {"input_tokens": 3, "output_tokens": 3},
    }


def test_sdk_text_stream_and_final_usage(sdk, fake):
    with sdk.messages.stream(model="llama3.2", max_tokens=4, messages=MSGS) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == expected_text(4)
    assert final.usage.output_tokens == 4 and final.usage.input_tokens == 3


def test_a_ping_is_taken_by_the_sdk(sdk, fake):
    fake.anthropic_ping = True
    with sdk.messages.stream(model="llama3.2", max_tokens=2, messages=MSGS) as stream:
        assert "".join(stream.text_stream) == expected_text(2)
    body = {"model": "llama3.2", "max_tokens": 1, "messages": MSGS, "stream": True}
    resp = requests.post(fake.url + "/v1/messages", json=body, timeout=10)
    assert [n for n, _ in events(resp.content)][:2] == ["message_start", "ping"]


@pytest.mark.parametrize("stream", [False, True])
def test_tool_use_then_the_result(sdk, fake, stream):
    args = dict(model="llama3.2", max_tokens=4, messages=MSGS, tools=[WEATHER])
    if stream:
        with sdk.messages.stream(**args) as s:
            msg = s.get_final_message()
    else:
        msg = sdk.messages.create(**args)
    assert msg.stop_reason == "tool_use"
    (use,) = msg.content
    assert use.type == "tool_use" and use.name == "get_weather"
    assert use.input == {"city": "Paris"} and use.id.startswith("call_")
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
    answer = sdk.messages.create(
        model="llama3.2", max_tokens=4, messages=follow, tools=[WEATHER]
    )
    assert answer.content[0].text == expected_text(4)
    chat = [m["role"] for m in fake.requests_to("/v1/messages")[-1].json["messages"]]
    assert chat == ["user", "assistant", "user"]


def test_thinking_blocks_come_first(sdk, fake):
    msg = sdk.messages.create(
        model="qwen2.5:7b",
        max_tokens=2,
        messages=MSGS,
        thinking={"type": "enabled", "budget_tokens": 1024},
    )
    assert [b.type for b in msg.content] == ["thinking", "text"]
    with sdk.messages.stream(
        model="qwen2.5:7b",
        max_tokens=2,
        messages=MSGS,
        system=[{"type": "text", "text": "Be brief"}],
        thinking={"type": "enabled", "budget_tokens": 1024},
    ) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].thinking.startswith("Let me think")


def test_errors_in_anthropics_shape(sdk, fake):
    with pytest.raises(anthropic.NotFoundError) as caught:
        sdk.messages.create(model="nope", max_tokens=5, messages=MSGS, stream=True)
    assert caught.value.body["error"]["type"] == "not_found_error"
    body = {"model": "llama3.2", "max_tokens": 0, "messages": MSGS}
    resp = requests.post(fake.url + "/v1/messages", json=body, timeout=10)
    assert resp.status_code == 400
    got = resp.json()
    assert got["type"] == "error" and got["request_id"].startswith("req_")
    assert got["error"] == {
        "type": "invalid_request_error",
        "message": "max_tokens is required and must be positive",
    }


def test_an_error_after_the_first_event_just_ends_the_stream(fake):
    fake.error_mid_stream = (3, "boom")
    body = {"model": "llama3.2", "max_tokens": 5, "messages": MSGS, "stream": True}
    resp = requests.post(fake.url + "/v1/messages", json=body, timeout=10)
    names = [n for n, _ in events(resp.content)]
    assert len(names) == 3 and "message_delta" not in names
    assert b"boom" not in resp.content


@pytest.mark.parametrize(
    "change, message",
    [
        ({"model": ""}, "model is required"),
        ({"messages": []}, "messages is required"),
        ({"max_tokens": "5"}, "cannot unmarshal"),
        ({"messages": [{"role": "user", "content": 5}]}, "cannot unmarshal"),
        ({"messages": [{"role": "user", "content": [{"text": ["x"]}]}]}, "unmarshal"),
        ({"tools": [{"name": "f", "input_schema": "x"}]}, "cannot unmarshal"),
        (
            {"messages": [{"role": "user", "content": [{"type": "tool_use"}]}]},
            "missing required 'id'",
        ),
    ],
)
def test_bad_requests_are_400_as_ollamas_middleware_says(fake, change, message):
    body = {"model": "llama3.2", "max_tokens": 5, "messages": MSGS, **change}
    resp = requests.post(fake.url + "/v1/messages", json=body, timeout=10)
    assert resp.status_code == 400
    assert resp.json()["error"]["type"] == "invalid_request_error"
    assert message in resp.json()["error"]["message"]
