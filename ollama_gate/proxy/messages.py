"""Reads an Anthropic Messages answer (``/v1/messages``) for the summary: its text,
thinking, tool calls, stop reason and token counts.

A whole answer is one Message object; a stream is named SSE events whose ``data``
lines the summary has already parsed, in order: ``message_start`` (its input tokens
only an estimate on Ollama), content blocks (``text_delta``, ``thinking_delta``,
``input_json_delta`` for a ``tool_use`` block), ``message_delta`` (the stop reason and
the real usage), ``message_stop``; ``ping`` and unknown events are skipped. Token
counts are taken only from a whole Message or a ``message_delta``, so a stream cut
before its end is estimated like any other (``estimate.uncounted``).
"""

from __future__ import annotations

import json
from typing import Any

MESSAGES = "/v1/messages"
TOOL_BLOCKS = ("tool_use", "server_tool_use")


def read_messages(
    objs: list[dict], text: list, thinking: list, tool_calls: list, stats: dict
) -> None:
    """Collect an Anthropic answer's parts from its parsed objects (or events)."""
    tools: dict[int, dict] = {}  # a streamed tool_use block by its index
    for obj in objs:
        kind = obj.get("type")
        if kind == "content_block_delta":
            _delta(obj, text, thinking, tools)
        elif kind == "content_block_start":
            block = obj.get("content_block")
            if isinstance(block, dict):
                if block.get("type") in TOOL_BLOCKS:
                    tools[_count(obj.get("index"))] = {**block, "partial": []}
                else:  # a block may start with text of its own
                    _block(block, text, thinking, tool_calls)
        elif kind == "message_delta":
            delta = obj.get("delta")
            if isinstance(delta, dict) and delta.get("stop_reason"):
                stats["done_reason"] = delta["stop_reason"]
            _usage(obj.get("usage"), stats)
        elif kind == "message_start":
            message = obj.get("message")
            usage = message.get("usage") if isinstance(message, dict) else None
            if isinstance(usage, dict):  # the stream's first guess, for a later delta
                stats["message_start_input"] = _count(usage.get("input_tokens"))
        elif kind == "message":  # a whole answer
            for block in obj.get("content") or []:
                if isinstance(block, dict):
                    _block(block, text, thinking, tool_calls)
            if obj.get("stop_reason"):
                stats["done_reason"] = obj["stop_reason"]
            _usage(obj.get("usage"), stats)
        elif kind == "error" and isinstance(obj.get("error"), dict):
            stats["error"] = obj["error"].get("message") or obj["error"].get("type")
    tool_calls.extend(_finished(block) for block in tools.values())
    start = stats.pop("message_start_input", 0)
    if "completion_tokens" in stats and not stats.get("prompt_tokens"):
        stats["prompt_tokens"] = start  # Anthropic's own API counts it at the start


def _delta(obj: dict, text: list, thinking: list, tools: dict) -> None:
    """One ``content_block_delta``: text, thinking or a piece of a tool's input."""
    delta = obj.get("delta")
    if not isinstance(delta, dict):
        return
    kind = delta.get("type")
    if kind == "text_delta" and isinstance(delta.get("text"), str):
        text.append(delta["text"])
    elif kind == "thinking_delta" and isinstance(delta.get("thinking"), str):
        thinking.append(delta["thinking"])
    elif kind == "input_json_delta" and _count(obj.get("index")) in tools:
        partial = delta.get("partial_json")
        if isinstance(partial, str):
            tools[_count(obj["index"])]["partial"].append(partial)


def _block(block: dict, text: list, thinking: list, tool_calls: list) -> None:
    """One whole content block."""
    kind = block.get("type")
    if kind == "text" and isinstance(block.get("text"), str):
        text.append(block["text"])
    elif kind == "thinking" and isinstance(block.get("thinking"), str):
        thinking.append(block["thinking"])
    elif kind in TOOL_BLOCKS:
        tool_calls.append(_summary(block, block.get("input")))


def _finished(block: dict) -> dict:
    """A streamed tool_use block with its input put together from its pieces."""
    joined = "".join(block["partial"])
    if not joined:
        return _summary(block, block.get("input"))
    try:
        return _summary(block, json.loads(joined))
    except ValueError:  # cut short: the record keeps what came
        return _summary(block, joined)


def _summary(block: dict, tool_input: Any) -> dict:
    """What the record keeps of a tool call: its id, name and input."""
    return {"id": block.get("id"), "name": block.get("name"), "input": tool_input}


def _usage(usage: Any, stats: dict) -> None:
    """Token counts from a Message's or a ``message_delta``'s usage."""
    if not isinstance(usage, dict):
        return
    if "input_tokens" in usage:
        stats["prompt_tokens"] = _count(usage["input_tokens"])
    stats["completion_tokens"] = _count(usage.get("output_tokens"))


def _count(value: Any) -> int:
    """A token count as sent, or 0 for anything that is not one."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
