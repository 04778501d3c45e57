"""A cache hit answered in the framing the client asked for, like a live answer.

Native NDJSON streams end with their ``done`` object and ``/v1`` SSE streams with
``data: [DONE]``, whole answers are one JSON object; the final statistics (durations,
token counts, ``usage``) are those of the original call, while the model name, times
and ``/v1`` ids are the new call's, as Ollama would make them. An answer cached in
one framing is converted to the other (a whole answer becomes one content chunk and
the final one; a stream becomes one object). A ``/v1`` stream always carries its
usage, taken out for a client that did not ask for it as a live stream's is.
"""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime
from typing import Any

from .entry import NDJSON, SSE, WHOLE

NDJSON_TYPE = "application/x-ndjson"
SSE_TYPE = "text/event-stream"
JSON_TYPE = "application/json; charset=utf-8"
_CONTENT = ("response", "thinking", "message", "logprobs", "tool_calls")


# one encoder for every line: ``json.dumps`` with options builds a new one per call
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _dumps(obj: Any) -> bytes:
    return _encode(obj).encode("utf-8", "surrogatepass")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def _text(objs: list[dict], field: str, part: str | None = None) -> str:
    out = []
    for obj in objs:
        holder = obj.get(field) if part else obj
        value = holder.get(part or field) if isinstance(holder, dict) else None
        if isinstance(value, str):
            out.append(value)
    return "".join(out)


# native: /api/generate and /api/chat
def native_whole(objs: list[dict], chat: bool) -> dict:
    """One whole answer from a native stream's objects (or the whole one itself)."""
    if len(objs) == 1:
        return dict(objs[0])
    final = objs[-1]
    out = {k: final[k] for k in ("model", "created_at") if k in final}
    tools = [
        t for o in objs for t in _list(o.get("message") if chat else o, "tool_calls")
    ]
    logprobs = [p for o in objs for p in (o.get("logprobs") or [])]
    if chat:
        message = {"role": "assistant", "content": _text(objs, "message", "content")}
        thinking = _text(objs, "message", "thinking")
        if thinking:
            message["thinking"] = thinking
        if tools:
            message["tool_calls"] = tools
        out["message"] = message
    else:
        out["response"] = _text(objs, "response")
        thinking = _text(objs, "thinking")
        if thinking:
            out["thinking"] = thinking
        if tools:
            out["tool_calls"] = tools
    out.update({k: v for k, v in final.items() if k not in out and k not in _CONTENT})
    if logprobs:
        out["logprobs"] = logprobs
    return out


def _list(holder: Any, field: str) -> list:
    value = holder.get(field) if isinstance(holder, dict) else None
    return value if isinstance(value, list) else []


def native_stream(objs: list[dict], framing: str, chat: bool) -> list[dict]:
    """A native stream's objects (a whole answer split into content and final)."""
    if framing == NDJSON:
        return objs
    whole = objs[0]
    head = {k: whole[k] for k in ("model", "created_at") if k in whole}
    content = dict(head, **{k: whole[k] for k in _CONTENT if k in whole})
    content["done"] = False
    final = dict(head)
    final["message" if chat else "response"] = (
        {"role": "assistant", "content": ""} if chat else ""
    )
    final.update(
        {k: v for k, v in whole.items() if k not in final and k not in _CONTENT}
    )
    return [content, final]


def _fresh_native(obj: dict, model: str, now: str) -> dict:
    obj = dict(obj)
    if "model" in obj:
        obj["model"] = model
    if "created_at" in obj:
        obj["created_at"] = now
    return obj


# /v1/chat/completions and /v1/completions
def _usage(objs: list[dict]) -> dict | None:
    for obj in reversed(objs):
        usage = obj.get("usage")
        if isinstance(usage, dict) and any(usage.values()):
            return usage
    return None


def _choice(obj: dict) -> dict:
    choices = obj.get("choices")
    return choices[0] if isinstance(choices, list) and choices else {}


def _head(obj: dict, kind: str) -> dict:
    """The leading fields of a ``/v1`` answer or chunk of ``kind``, as Ollama's."""
    out = {"id": obj.get("id"), "object": kind}
    fields = ("created", "model", "system_fingerprint")
    out.update({k: obj[k] for k in fields if k in obj})
    return out


def openai_whole(objs: list[dict], framing: str, chat: bool) -> dict:
    """One whole ``/v1`` answer from an SSE stream's chunks (or the whole itself)."""
    if framing == WHOLE:
        return dict(objs[0])
    first = objs[0]
    choices = [_choice(o) for o in objs]
    finish = next(
        (c["finish_reason"] for c in reversed(choices) if c.get("finish_reason")), None
    )
    out = _head(first, "chat.completion" if chat else "text_completion")
    if chat:
        deltas = [c.get("delta") or {} for c in choices]
        message = {"role": "assistant", "content": _text(deltas, "content")}
        reasoning = _text(deltas, "reasoning")
        if reasoning:
            message["reasoning"] = reasoning
        tools = [t for d in deltas for t in _list(d, "tool_calls")]
        if tools:
            message["tool_calls"] = tools
        choice = {"index": 0, "message": message, "finish_reason": finish}
    else:
        choice = {"text": _text(choices, "text"), "index": 0, "finish_reason": finish}
    out["choices"] = [choice]
    usage = _usage(objs)
    if usage is not None:
        out["usage"] = usage
    return out


def openai_stream(objs: list[dict], framing: str, chat: bool) -> list[dict]:
    """A ``/v1`` stream's chunks, with usage (a whole answer split into a content
    chunk, the finish chunk and the usage chunk)."""
    if framing == SSE:
        return objs
    whole = objs[0]
    base = _head(whole, "chat.completion.chunk" if chat else "text_completion")
    choice = _choice(whole)
    finish = choice.get("finish_reason")
    usage = whole.get("usage")
    if chat:
        delta = dict(choice.get("message") or {"role": "assistant", "content": ""})
        if isinstance(delta.get("tool_calls"), list):  # streamed ones are indexed
            delta["tool_calls"] = [
                {"index": i, **t} if isinstance(t, dict) else t
                for i, t in enumerate(delta["tool_calls"])
            ]
        chunks = [
            dict(base, choices=[{"index": 0, "delta": delta, "finish_reason": None}]),
            dict(base, choices=[{"index": 0, "delta": {}, "finish_reason": finish}]),
        ]
    else:
        zero = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        text = choice.get("text") or ""
        chunks = [
            dict(
                base,
                choices=[{"text": text, "index": 0, "finish_reason": None}],
                usage=zero,
            ),
            dict(
                base,
                choices=[{"text": "", "index": 0, "finish_reason": finish}],
                usage=zero,
            ),
        ]
    if isinstance(usage, dict):
        chunks.append(dict(base, choices=[], usage=usage))
    return chunks


def _fresh_openai(obj: dict, model: str, cid: str, created: int) -> dict:
    obj = dict(obj)
    for name, value in (("id", cid), ("created", created), ("model", model)):
        if name in obj:
            obj[name] = value
    return obj


def render(entry: dict, endpoint: str, model: str, stream: bool) -> tuple[str, bytes]:
    """The replayed answer as (content type, body) for a call to ``endpoint`` naming
    ``model``, streamed or whole as the client asked."""
    framing, objs = entry["framing"], entry["objs"]
    chat = endpoint.endswith("/chat") or endpoint.endswith("/chat/completions")
    if endpoint.startswith("/v1/") and endpoint != "/v1/embeddings":
        prefix = "chatcmpl" if chat else "cmpl"
        cid, created = f"{prefix}-{random.randint(0, 998)}", int(time.time())
        if stream:
            chunks = [
                _fresh_openai(o, model, cid, created)
                for o in openai_stream(objs, framing, chat)
            ]
            body = b"".join(b"data: " + _dumps(o) + b"\n\n" for o in chunks)
            return SSE_TYPE, body + b"data: [DONE]\n\n"
        whole = _fresh_openai(openai_whole(objs, framing, chat), model, cid, created)
        return JSON_TYPE, _dumps(whole)
    now = _now()
    if stream and endpoint in ("/api/generate", "/api/chat"):
        lines = [
            _fresh_native(o, model, now) for o in native_stream(objs, framing, chat)
        ]
        return NDJSON_TYPE, b"".join(_dumps(o) + b"\n" for o in lines)
    if endpoint in ("/api/generate", "/api/chat"):
        return JSON_TYPE, _dumps(_fresh_native(native_whole(objs, chat), model, now))
    return JSON_TYPE, _dumps(_fresh_native(objs[0], model, now))  # embeddings
