"""Reads a finished call's answer once, after the last byte: text, tool calls, token
counts.

Native streams are NDJSON objects ending in a ``done`` object with Ollama's statistics;
``/v1`` streams are SSE events with an optional ``usage`` chunk; ``/v1/messages`` ones
Anthropic's named events (``messages.py``); whole answers are one JSON object. The
result goes to ``call.stats`` for quotas and history.
"""

from __future__ import annotations

import json
from typing import Any

from ..call import Call
from .estimate import uncounted
from .messages import MESSAGES, read_messages

DURATIONS = ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration")


def _objects(body: bytes, content_type: str) -> list[dict[str, Any]]:
    """The JSON objects of the answer, in order, skipping anything unparseable."""
    if not body:
        return []
    if content_type.startswith("text/event-stream"):
        lines = [ln[5:].strip() for ln in body.split(b"\n") if ln.startswith(b"data:")]
        lines = [ln for ln in lines if ln and ln != b"[DONE]"]
    elif content_type.startswith("application/x-ndjson"):
        lines = [ln for ln in body.split(b"\n") if ln.strip()]
    else:
        lines = [body]
    try:  # one parse for the whole answer costs a fraction of one parse per line
        objs = json.loads(b"[" + b",".join(lines) + b"]") if len(lines) > 1 else None
    except ValueError:
        objs = None  # an odd line: parse them one by one, skipping what does not parse
    if objs is None:
        objs = []
        for line in lines:
            try:
                objs.append(json.loads(line))
            except ValueError:
                continue
    return [obj for obj in objs if isinstance(obj, dict)]


# The keys of a native stream's plain token lines (no thinking, tools or statistics).
_GENERATE_TOKEN = frozenset({"model", "created_at", "response", "done"})
_CHAT_TOKEN = frozenset({"model", "created_at", "message", "done"})
_PLAIN_MESSAGE = frozenset({"role", "content"})
_OPENAI_TOKEN = frozenset(
    {"id", "object", "created", "model", "system_fingerprint", "choices"}
)
_OPENAI_CHOICE = frozenset({"index", "delta", "finish_reason"})


def _openai_token(obj: dict, text: list) -> bool:
    """Take the text of a plain ``/v1`` chunk (one choice, content only); else False."""
    choices = obj["choices"]
    if not (isinstance(choices, list) and len(choices) == 1):
        return False
    choice = choices[0]
    if (
        not isinstance(choice, dict)
        or choice.keys() != _OPENAI_CHOICE
        or choice["finish_reason"] is not None
    ):
        return False
    delta = choice["delta"]
    if (
        not isinstance(delta, dict)
        or not delta.keys() <= _PLAIN_MESSAGE
        or not isinstance(delta.get("content", ""), str)
    ):
        return False
    text.append(delta.get("content") or "")
    return True


def summarise(call: Call) -> dict[str, Any]:
    """Collect answer text, thinking, tool calls, finish reason and token counts."""
    text: list[str] = []
    thinking: list[str] = []
    tool_calls: list[Any] = []
    stats: dict[str, Any] = {}
    objs = _objects(call.body, call.content_type)
    if call.truncated:  # the kept part ended early: the final line is in the tail
        objs += _objects(call.tail.partition(b"\n")[2], call.content_type)
    read = read_messages if call.endpoint == MESSAGES else _read
    read(objs, text, thinking, tool_calls, stats)
    if "prompt_tokens" not in stats and "completion_tokens" not in stats:
        uncounted(call, text, thinking, stats)
    stats["text"] = "".join(text)
    stats["thinking"] = "".join(thinking)
    stats["tool_calls"] = tool_calls
    stats.setdefault("prompt_tokens", 0)
    stats.setdefault("completion_tokens", 0)
    stats["total_tokens"] = stats["prompt_tokens"] + stats["completion_tokens"]
    call.stats = stats
    return stats


def _read(
    objs: list[dict], text: list, thinking: list, tool_calls: list, stats: dict
) -> None:
    """Collect the parts of an Ollama or OpenAI answer from its parsed objects."""
    for obj in objs:
        keys = obj.keys()
        # fast path for the bulk of a stream, plain token lines: a lookup, no dispatch
        if keys == _GENERATE_TOKEN and obj["done"] is False:
            if isinstance(obj["response"], str):
                text.append(obj["response"])
                continue
        elif keys == _CHAT_TOKEN and obj["done"] is False:
            message = obj["message"]
            if isinstance(message, dict) and message.keys() == _PLAIN_MESSAGE:
                if isinstance(message["content"], str):
                    text.append(message["content"])
                    continue
        elif keys == _OPENAI_TOKEN and _openai_token(obj, text):
            continue
        if "error" in obj and len(obj) <= 2:
            err = obj["error"]
            stats["error"] = err.get("message") if isinstance(err, dict) else str(err)
            continue
        if "choices" in obj or obj.get("object") in ("chat.completion.chunk", "list"):
            _openai(obj, text, thinking, tool_calls, stats)
        elif isinstance(obj.get("type"), str) and obj["type"].startswith("response."):
            _responses(obj, text, stats)
        elif obj.get("object") == "response":  # a whole /v1/responses answer
            _response_object(obj, text, tool_calls, stats)
        else:
            _native(obj, text, thinking, tool_calls, stats)


def _native(
    obj: dict, text: list, thinking: list, tool_calls: list, stats: dict
) -> None:
    message = obj.get("message")
    if isinstance(message, dict):
        text.append(message.get("content") or "")
        thinking.append(message.get("thinking") or "")
        tool_calls.extend(message.get("tool_calls") or [])
    else:
        if isinstance(obj.get("response"), str):
            text.append(obj["response"])
        if isinstance(obj.get("thinking"), str):
            thinking.append(obj["thinking"])
        tool_calls.extend(obj.get("tool_calls") or [])
    if obj.get("done"):
        stats["done_reason"] = obj.get("done_reason")
    if "status" in obj:
        stats["status"] = obj["status"]
    if "embeddings" in obj or "embedding" in obj:
        stats["embeddings"] = len(obj.get("embeddings") or [1])
    for name in DURATIONS:
        if isinstance(obj.get(name), int):
            stats[name] = obj[name]
    if isinstance(obj.get("prompt_eval_count"), int):
        stats["prompt_tokens"] = obj["prompt_eval_count"]
    if isinstance(obj.get("eval_count"), int):
        stats["completion_tokens"] = obj["eval_count"]


def _openai(
    obj: dict, text: list, thinking: list, tool_calls: list, stats: dict
) -> None:
    for choice in obj.get("choices") or []:
        part = choice.get("delta") or choice.get("message") or {}
        if isinstance(part, dict):
            text.append(part.get("content") or "")
            thinking.append(part.get("reasoning") or "")
            tool_calls.extend(part.get("tool_calls") or [])
        if isinstance(choice.get("text"), str):
            text.append(choice["text"])
        if choice.get("finish_reason"):
            stats["done_reason"] = choice["finish_reason"]
    if obj.get("object") == "list" and isinstance(obj.get("data"), list):
        stats["embeddings"] = len(obj["data"])
    usage = obj.get("usage")
    if isinstance(usage, dict) and (
        usage.get("total_tokens") or usage.get("prompt_tokens")
    ):
        stats["prompt_tokens"] = int(usage.get("prompt_tokens") or 0)
        stats["completion_tokens"] = int(usage.get("completion_tokens") or 0)


def _responses(obj: dict, text: list, stats: dict) -> None:
    if obj["type"] == "response.output_text.delta" and isinstance(
        obj.get("delta"), str
    ):
        text.append(obj["delta"])
    response = obj.get("response")
    if obj["type"] in _RESPONSE_ENDS and isinstance(response, dict):
        _response_usage(response, stats)


# the last event of a /v1/responses stream, for a finished or a cut-short answer
_RESPONSE_ENDS = ("response.completed", "response.incomplete", "response.failed")


def _response_usage(response: dict, stats: dict) -> None:
    usage = response.get("usage") or {}
    stats["prompt_tokens"] = int(usage.get("input_tokens") or 0)
    stats["completion_tokens"] = int(usage.get("output_tokens") or 0)
    stats["done_reason"] = response.get("status")


def _response_object(obj: dict, text: list, tool_calls: list, stats: dict) -> None:
    for item in obj.get("output") or []:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "function_call":
            tool_calls.append(item)
        for part in item.get("content") or []:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                text.append(part["text"])
    _response_usage(obj, stats)
