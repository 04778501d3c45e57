"""proxy/summary.py: plain token lines (fast path) read as the full path reads them."""

from __future__ import annotations

import json

import pytest

from ollama_gate.call import Call
from ollama_gate.keys import Identity
from ollama_gate.proxy.summary import summarise

IDENT = Identity(1, 1, "alice", "og_abc", "k", "active", None)


def _call(content_type: str, objects: list, sse: bool = False) -> Call:
    call = Call(
        identity=IDENT,
        method="POST",
        path="/api/chat",
        upstream_path="/api/chat",
        endpoint="/api/chat",
    )
    call.content_type = content_type
    lines = [json.dumps(o).encode() for o in objects]
    body = b"".join((b"data: " + ln + b"\n\n") if sse else ln + b"\n" for ln in lines)
    call.chunks = [body + (b"data: [DONE]\n\n" if sse else b"")]
    return call


FINAL = {
    "model": "m",
    "created_at": "t",
    "done": True,
    "done_reason": "stop",
    "prompt_eval_count": 3,
    "eval_count": 4,
}


@pytest.mark.parametrize("kind", ["generate", "chat"])
def test_native_stream_mixed_lines(kind):
    def line(**fields):
        if kind == "generate":
            return {
                "model": "m",
                "created_at": "t",
                "response": "",
                "done": False,
                **fields,
            }
        msg = {"role": "assistant", "content": fields.pop("response", "")}
        msg.update(fields)
        return {"model": "m", "created_at": "t", "message": msg, "done": False}

    tool = {"function": {"name": "f", "arguments": {}}}
    objects = [
        line(thinking="hm"),
        line(response="Hel"),
        line(response="lo"),
        line(tool_calls=[tool]),
        line(response="!"),
        {**FINAL, "response": ""}
        if kind == "generate"
        else {**FINAL, "message": {"role": "assistant", "content": ""}},
    ]
    stats = summarise(_call("application/x-ndjson", objects))
    assert stats["text"] == "Hello!"
    assert stats["thinking"] == "hm"
    assert stats["tool_calls"] == [tool]
    assert (stats["done_reason"], stats["total_tokens"]) == ("stop", 7)


def test_openai_stream_mixed_chunks():
    def chunk(delta, finish=None, **extra):
        return {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "system_fingerprint": "fp",
            **extra,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    objects = [
        chunk({"role": "assistant", "content": "Hi"}),
        chunk({"content": " there"}),
        chunk({"reasoning": "r"}),
        chunk({}, "stop"),
        {
            **chunk({}),
            "choices": [],
            "usage": {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5},
        },
    ]
    stats = summarise(_call("text/event-stream", objects, sse=True))
    assert stats["text"] == "Hi there"
    assert stats["thinking"] == "r"
    assert (stats["done_reason"], stats["total_tokens"]) == ("stop", 5)
