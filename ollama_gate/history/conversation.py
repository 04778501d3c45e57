"""A record shown as a conversation: the request's messages, then the answer."""

from __future__ import annotations

import json
from typing import Any

from .models import Request


def _turn(role: str, content: Any = None, **extra: Any) -> dict[str, Any]:
    """One speaker's turn: its text, and images and tool calls if any."""
    text, images = _content(content)
    images += [i for i in extra.pop("images", None) or [] if isinstance(i, dict)]
    tool_calls = (extra.pop("tool_calls", None) or []) + _tool_uses(content)
    return {
        "role": str(role or "?"),
        "text": text,
        "images": images,
        "thinking": str(extra.get("thinking") or ""),
        "tool_calls": json.dumps(tool_calls, indent=2, ensure_ascii=False)
        if tool_calls
        else "",
    }


def _content(content: Any) -> tuple[str, list[dict]]:
    """The text and image stubs of a message content (a string or a list of parts)."""
    if content is None:
        return "", []
    if isinstance(content, str):
        return content, []
    if isinstance(content, dict) and content.get("image"):
        return "", [content]
    if isinstance(content, list):
        texts, images = [], []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict):
                if isinstance(part.get("text"), str):
                    texts.append(part["text"])
                elif part.get("type") == "tool_result":  # Anthropic's: its content
                    texts.append(_content(part.get("content"))[0])
                for value in part.values():  # image_url: {"url": stub} or a bare stub
                    if isinstance(value, dict) and value.get("image"):
                        images.append(value)
                    elif isinstance(value, dict) and isinstance(value.get("url"), dict):
                        images.append(value["url"])
        return "\n".join(texts), images
    return json.dumps(content, ensure_ascii=False), []


def _tool_uses(content: Any) -> list[dict]:
    """The tool calls among an Anthropic message's content blocks."""
    if not isinstance(content, list):
        return []
    return [
        {k: part.get(k) for k in ("id", "name", "input")}
        for part in content
        if isinstance(part, dict)
        and part.get("type") in ("tool_use", "server_tool_use")
    ]


def _system(value: Any) -> str:
    """A system prompt: a string, or Anthropic's list of text blocks."""
    return value if isinstance(value, str) else _content(value)[0]


def conversation(row: Request) -> list[dict[str, Any]]:
    """The turns of a call in order; empty when no text was kept (metadata mode)."""
    req = row.request or {}
    if row.mode != "full":
        return []
    turns = []
    for key in ("system", "instructions"):
        text = _system(req.get(key))
        if text:
            turns.append(_turn("system", text))
    for msg in req.get("messages") or []:
        if isinstance(msg, dict):
            turns.append(
                _turn(
                    msg.get("role"),
                    msg.get("content"),
                    images=msg.get("images"),
                    tool_calls=msg.get("tool_calls"),
                    thinking=msg.get("thinking"),
                )
            )
    if "prompt" in req:
        turns.append(_turn("user", req["prompt"], images=req.get("images")))
    if "input" in req:
        items = req["input"] if isinstance(req["input"], list) else [req["input"]]
        for item in items:
            if isinstance(item, dict) and "role" in item:
                turns.append(_turn(item["role"], item.get("content")))
            else:
                turns.append(_turn("input", item))
    answer = row.answer or {}
    if answer or row.answer_text:
        turns.append(
            _turn(
                "assistant",
                answer.get("text") or row.answer_text,
                thinking=answer.get("thinking"),
                tool_calls=answer.get("tool_calls"),
            )
        )
    return turns
