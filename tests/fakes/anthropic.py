"""The fake Ollama's Anthropic Messages API (``POST /v1/messages``), as Ollama 0.14+
serves it: ``middleware/anthropic.go`` turns the request into a chat, and
``anthropic/anthropic.go`` turns the chat's answer into a Message or a stream of named
SSE events.

Whole: one Message ``{"id": "msg_…", "type": "message", "role": "assistant", "model",
"content": [thinking?, text?, tool_use…], "stop_reason", "usage": {"input_tokens",
"output_tokens"}}``. Streamed: ``event: NAME`` + ``data: JSON`` per event, flushed one
by one: ``message_start`` (its ``input_tokens`` only an estimate),
``content_block_start`` / ``content_block_delta`` (``thinking_delta``, ``text_delta``,
``input_json_delta``) / ``content_block_stop``, ``message_delta`` (stop reason, real
usage), ``message_stop``.
Errors: ``{"type": "error", "error": {"type", "message"}, "request_id": "req_…"}``; an
error after the first event is dropped (the stream just ends).

Imported by ``tests.fakes.ollama`` (which owns the chat itself); nothing here imports
it back.
The answer's side (Message and events) is ``tests.fakes.anthropic_answer``.
"""

from __future__ import annotations

import json
import secrets

from tests.fakes.anthropic_answer import StreamConverter, whole_message

SSE_CT = "text/event-stream"
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}
# a property's made-up value in a tool call, by its JSON-schema type
SAMPLE = {"string": "Paris", "integer": 1, "number": 1.5, "boolean": True}


def _dumps(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def error_body(status: int, message: str) -> bytes:
    """Anthropic's error object (``anthropic.NewError``)."""
    return _dumps(
        {
            "type": "error",
            "error": {"type": ERROR_TYPES.get(status, "api_error"), "message": message},
            "request_id": _id("req"),
        }
    )


def tool_calls(chat: dict) -> list[dict]:
    """The tool call a chat with tools answers with (the first tool, arguments made up
    from its schema) while its last message is the user's; else none."""
    tools = chat.get("tools")
    messages = chat.get("messages")
    if not tools or not isinstance(tools, list) or not isinstance(messages, list):
        return []
    if not messages or not isinstance(messages[-1], dict):
        return []
    if messages[-1].get("role") != "user":  # a tool's result came back: answer it
        return []
    function = (tools[0] or {}).get("function") or {}
    props = (function.get("parameters") or {}).get("properties") or {}
    args = {
        name: SAMPLE.get(spec.get("type") if isinstance(spec, dict) else None, "x")
        for name, spec in props.items()
    }
    call = {"index": 0, "name": function.get("name", ""), "arguments": args}
    return [{"id": "call_" + secrets.token_hex(4), "function": call}]


def _field(obj: dict, name: str):
    """A field as Go's decoder reads it: names match case-insensitively, last wins."""
    value = None
    for key, item in obj.items():
        if key.casefold() == name:
            value = item
    return value


def _blocks(content) -> list:
    """A message's content as blocks (a string is one text block)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return content if isinstance(content, list) else []


def _text_of(content) -> str:
    """The text of a tool result's or a system prompt's content."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return "".join(
        b["text"]
        for b in content
        if isinstance(b, dict)
        and b.get("type") == "text"
        and isinstance(b.get("text"), str)
    )


def _convert_message(msg: dict) -> list[dict]:
    """One Anthropic message as Ollama's chat messages (``convertMessage``)."""
    role = str(msg.get("role") or "").lower()
    text, calls, results, thinking = [], [], [], ""
    for block in _blocks(_field(msg, "content")):
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            text.append(block.get("text") or "")
        elif kind == "tool_use":
            function = {"index": 0, "name": block.get("name"), "arguments": {}}
            function["arguments"] = block.get("input") or {}
            calls.append({"id": block.get("id"), "function": function})
        elif kind == "tool_result":
            results.append(
                {
                    "role": "tool",
                    "content": _text_of(block.get("content")),
                    "tool_call_id": block.get("tool_use_id"),
                }
            )
        elif kind == "thinking":
            thinking = block.get("thinking") or ""
    out = list(results) if role == "user" else []
    if "".join(text) or calls or thinking:
        turn = {"role": role, "content": "".join(text)}
        if calls:
            turn["tool_calls"] = calls
        if thinking:
            turn["thinking"] = thinking
        out.append(turn)
    return out if role == "user" else out + results


def to_chat(req: dict) -> dict:
    """The chat request Ollama makes of a Messages request (``FromMessagesRequest``)."""
    messages = []
    system = _text_of(_field(req, "system"))
    if system:
        messages.append({"role": "system", "content": system})
    for msg in _field(req, "messages"):
        if isinstance(msg, dict):
            messages += _convert_message(msg)
    chat = {
        "model": _field(req, "model"),
        "messages": messages,
        "options": {"num_predict": _field(req, "max_tokens")},
        "stream": bool(_field(req, "stream")),
    }
    tools = [
        {
            "type": "function",
            "function": {
                "name": t.get("name"),
                "description": t.get("description", ""),
                "parameters": t.get("input_schema") or {},
            },
        }
        for t in _field(req, "tools") or []
        if isinstance(t, dict)
    ]
    if tools:
        chat["tools"] = tools
    thinking = _field(req, "thinking")
    if isinstance(thinking, dict) and thinking.get("type") in ("enabled", "disabled"):
        chat["think"] = thinking["type"] == "enabled"
    return chat


def estimate_input_tokens(req: dict) -> int:
    """``message_start``'s input tokens: the request's characters over four."""
    total = len(_text_of(_field(req, "system")).encode())
    for msg in _field(req, "messages") or []:
        if not isinstance(msg, dict):
            continue
        total += len(str(msg.get("role") or ""))
        for block in _blocks(_field(msg, "content")):
            if not isinstance(block, dict):
                continue
            total += len((block.get("text") or "").encode())
            total += len((block.get("thinking") or "").encode())
            if block.get("type") in ("tool_use", "tool_result"):
                total += len(_dumps(block))
    for tool in _field(req, "tools") or []:
        if isinstance(tool, dict):
            schema = _dumps(tool["input_schema"]) if "input_schema" in tool else b""
            total += len(tool.get("name") or "") + len(tool.get("description") or "")
            total += len(schema)
    return max(total // 4, 1)


def _refuse(h, message: str, status: int = 400) -> None:
    """The middleware's own refusal (``AbortWithStatusJSON``: no newline)."""
    h._send_bytes(
        status, error_body(status, message), "application/json; charset=utf-8"
    )


# the request's Go types (``anthropic.MessagesRequest``): a value of another JSON type
# is Go's unmarshal error, a 400
BLOCK = {"type": str, "text": str, "id": str, "name": str, "input": dict}
BLOCK.update(tool_use_id=str, thinking=str, signature=str, is_error=bool, source=dict)
TOOL = {"type": str, "name": str, "description": str, "max_uses": int}
TOOL["input_schema"] = {"type": str, "required": [str], "properties": dict}
REQUEST = {
    "model": str,
    "max_tokens": int,
    "messages": [{"role": str, "content": (str, [BLOCK])}],
    "stream": bool,
    "tools": [TOOL],
    "thinking": {"type": str, "budget_tokens": int},
    "tool_choice": dict,
    "metadata": dict,
    "stop_sequences": [str],
    "temperature": float,
    "top_p": float,
    "top_k": int,
}
GO = {str: "string", bool: "bool", int: "int", float: "float64", dict: "object"}


def _mistyped(value, kind) -> str | None:
    """Go's complaint about ``value`` where a ``kind`` belongs, or None."""
    if value is None:  # null leaves a Go field as it was
        return None
    if isinstance(kind, tuple):  # the first kind that takes it
        fits = [_mistyped(value, k) for k in kind]
        return None if None in fits else fits[-1]
    if isinstance(kind, list):
        if not isinstance(value, list):
            return "cannot unmarshal into a Go slice"
        return next(filter(None, (_mistyped(v, kind[0]) for v in value)), None)
    if isinstance(kind, dict):
        if not isinstance(value, dict):
            return "cannot unmarshal into a Go struct"
        fields = {k.casefold(): v for k, v in kind.items()}
        found = (_mistyped(v, fields[k.casefold()]) for k, v in value.items()
                 if k.casefold() in fields)  # fmt: skip
        return next(filter(None, found), None)
    if kind is int:
        fits = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        fits = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        fits = isinstance(value, kind)
    if fits:
        return None
    return f"cannot unmarshal {type(value).__name__} into Go value of type {GO[kind]}"


def _invalid(req: dict) -> str | None:
    """Why Ollama's middleware refuses a Messages request, or None."""
    problem = _mistyped(req, REQUEST)
    if problem:
        return "json: " + problem
    if not _field(req, "model"):
        return "model is required"
    if (_field(req, "max_tokens") or 0) <= 0:
        return "max_tokens is required and must be positive"
    if not _field(req, "messages"):
        return "messages is required"
    for msg in _field(req, "messages"):
        for block in _blocks((msg or {}).get("content")):
            if not isinstance(block, dict):
                continue  # null: a zero block, skipped
            if block.get("type") == "tool_use" and not block.get("id"):
                return "tool_use block missing required 'id' field"
            if block.get("type") == "tool_use" and not block.get("name"):
                return "tool_use block missing required 'name' field"
            if block.get("type") == "image":
                return "invalid image source"  # the fake keeps no images
    return None


def h_messages(h) -> None:
    """``POST /v1/messages`` on the fake's handler ``h``."""
    try:
        req = h._json_body()
    except Exception as exc:  # the fake's _BadRequest: Go's decoding error
        _refuse(h, getattr(exc, "message", str(exc)))
        return
    problem = _invalid(req)
    if problem:
        _refuse(h, problem)
        return
    chat = to_chat(req)
    model = h._lookup(chat["model"])
    if "think" in chat and model and "thinking" not in model.get("capabilities", []):
        del chat["think"]  # ``relax_thinking``: no 400 for a model that cannot think
    mid = _id("msg")
    answer = h._chat_answer(chat)  # an unknown model raises here: a 404, not a stream
    if not chat["stream"]:
        h._send_bytes(
            200, _dumps(whole_message(mid, answer)) + b"\n", "application/json"
        )
        return
    converter = StreamConverter(
        mid, chat["model"], estimate_input_tokens(req), h.fake.anthropic_ping
    )
    chunks = [answer] if isinstance(answer, dict) else answer  # a load: one chunk
    h._stream(SSE_CT, (ev for chunk in chunks for ev in converter.process(chunk)))
