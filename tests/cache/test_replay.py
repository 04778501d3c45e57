"""What an answer keeps (entry) and how it is replayed in each framing (replay):
thinking, tool calls and statistics survive every conversion."""

from __future__ import annotations

import json

import pytest

from ollama_gate.cache.entry import capture, pack, unpack
from ollama_gate.cache.replay import (
    native_stream,
    native_whole,
    openai_stream,
    openai_whole,
    render,
)
from ollama_gate.call import Call
from ollama_gate.keys import Identity

TOOL = {"function": {"name": "weather", "arguments": {"city": "Paris"}}}
STATS = {
    "done_reason": "stop",
    "total_duration": 9,
    "eval_count": 2,
    "prompt_eval_count": 3,
}
CHAT_STREAM = [
    {
        "model": "m",
        "created_at": "t",
        "message": {"role": "assistant", "content": "", "thinking": "hm"},
        "done": False,
    },
    {
        "model": "m",
        "created_at": "t",
        "message": {"role": "assistant", "content": "Hi"},
        "done": False,
    },
    {
        "model": "m",
        "created_at": "t",
        "message": {"role": "assistant", "content": "", "tool_calls": [TOOL]},
        "done": False,
    },
    {
        "model": "m",
        "created_at": "t",
        "message": {"role": "assistant", "content": ""},
        "done": True,
        **STATS,
    },
]


def test_a_native_chat_stream_becomes_one_whole_answer_and_back():
    whole = native_whole(CHAT_STREAM, chat=True)
    assert whole["message"] == {
        "role": "assistant",
        "content": "Hi",
        "thinking": "hm",
        "tool_calls": [TOOL],
    }
    assert whole["done"] is True and {k: whole[k] for k in STATS} == STATS
    content, final = native_stream([whole], "json", chat=True)
    assert content["done"] is False and content["message"] == whole["message"]
    assert final["message"] == {"role": "assistant", "content": ""}
    assert {k: final[k] for k in STATS} == STATS and final["done"] is True


def test_a_native_generate_whole_answer_streams_with_its_context():
    whole = {
        "model": "m",
        "created_at": "t",
        "response": "Hi",
        "thinking": "hm",
        "done": True,
        "context": [1, 2],
        **STATS,
    }
    content, final = native_stream([whole], "json", chat=False)
    assert (content["response"], content["thinking"]) == ("Hi", "hm")
    assert final["response"] == "" and final["context"] == [1, 2]
    assert native_whole([content, final], chat=False) == whole


USAGE = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


def chunk(choices, **extra):
    base = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "system_fingerprint": "fp_ollama",
    }
    return {**base, "choices": choices, **extra}


def test_a_v1_chat_stream_becomes_a_whole_completion_and_back():
    tool = {
        "id": "call_1",
        "index": 0,
        "type": "function",
        "function": {"name": "w", "arguments": "{}"},
    }
    stream = [
        chunk(
            [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": "", "reasoning": "hm"},
                    "finish_reason": None,
                }
            ]
        ),
        chunk(
            [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": "Hi"},
                    "finish_reason": None,
                }
            ]
        ),
        chunk(
            [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": "", "tool_calls": [tool]},
                    "finish_reason": None,
                }
            ]
        ),
        chunk([{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]),
        chunk([], usage=USAGE),
    ]
    whole = openai_whole(stream, "sse", chat=True)
    assert whole["object"] == "chat.completion" and whole["usage"] == USAGE
    (choice,) = whole["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"] == {
        "role": "assistant",
        "content": "Hi",
        "reasoning": "hm",
        "tool_calls": [tool],
    }
    first, finish, usage = openai_stream([whole], "json", chat=True)
    assert first["object"] == "chat.completion.chunk"
    assert first["choices"][0]["delta"]["tool_calls"][0]["index"] == 0
    assert finish["choices"][0] == {
        "index": 0,
        "delta": {},
        "finish_reason": "tool_calls",
    }
    assert usage["choices"] == [] and usage["usage"] == USAGE


def test_a_v1_completion_streams_like_ollamas():
    whole = {
        "id": "cmpl-2",
        "object": "text_completion",
        "created": 1,
        "model": "m",
        "choices": [{"text": "Hi", "index": 0, "finish_reason": "length"}],
        "usage": USAGE,
    }
    text, finish, usage = openai_stream([whole], "json", chat=False)
    zero = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    assert text["choices"][0]["text"] == "Hi" and text["usage"] == zero
    assert finish["choices"][0]["finish_reason"] == "length"
    assert usage["usage"] == USAGE
    assert (
        openai_whole([text, finish, usage], "sse", chat=False)["choices"]
        == whole["choices"]
    )


def test_render_names_the_new_calls_model_and_fresh_ids():
    entry = {
        "v": 1,
        "framing": "sse",
        "objs": [
            chunk([{"index": 0, "delta": {"content": "Hi"}, "finish_reason": "stop"}]),
            chunk([], usage=USAGE),
        ],
    }
    kind, body = render(entry, "/v1/chat/completions", "M:latest", stream=True)
    assert kind == "text/event-stream" and body.endswith(b"data: [DONE]\n\n")
    events = [
        json.loads(e[6:]) for e in body.split(b"\n\n") if e and e != b"data: [DONE]"
    ]
    assert {e["model"] for e in events} == {"M:latest"}
    assert len({e["id"] for e in events}) == 1 and events[0]["id"].startswith(
        "chatcmpl-"
    )
    kind, body = render(entry, "/v1/chat/completions", "M", stream=False)
    assert kind.startswith("application/json") and json.loads(body)["usage"] == USAGE


def finished(content_type: str, body: bytes, **fields) -> Call:
    ident = Identity(1, 1, "u", "og_x", "", "active", None)
    call = Call(
        ident,
        "POST",
        "/api/chat",
        "/api/chat",
        "/api/chat",
        **{"status": 200, "content_type": content_type, "completed": True, **fields},
    )
    call.keep(body)
    return call


NDJSON = "application/x-ndjson"


@pytest.mark.parametrize(
    "call",
    [
        finished(NDJSON, b'{"done":false}\n'),  # never ended
        finished(NDJSON, b'{"done":false}\n{"error":"oom"}\n'),
        finished(NDJSON, b'{"done":true}\n', status=500),
        finished(NDJSON, b'{"done":true}\n', disconnected=True),
        finished(NDJSON, b'{"done":true}\n', error="upstream stream failed"),
        finished(NDJSON, b'{"done":true,"done_reason":"load"}\n'),
        finished("text/event-stream", b'data: {"choices":[]}\n\n'),  # no [DONE]
        finished("application/json", b"not json"),
        finished("text/plain", b"hello"),
    ],
)
def test_what_is_not_kept(call):
    assert capture(call) is None


def test_what_is_kept_and_packed():
    call = finished(
        NDJSON, b'{"message":{"content":"Hi"},"done":false}\n{"done":true}\n'
    )
    entry = capture(call)
    assert entry["framing"] == "ndjson" and len(entry["objs"]) == 2
    assert unpack(pack(entry)) == entry
    assert unpack(b"garbage") is None
