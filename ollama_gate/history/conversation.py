"""A record shown as a conversation: the request's messages, then the answer.

The request is read as Ollama's Go decoder read it (``gofields``): a later
``MESSAGES`` or ``Content`` is what the model ran, not the ``messages`` before it."""

from __future__ import annotations

import json
from typing import Any

from ..gofields import go_field, go_view
from .models import Request

TURN_FIELDS = ("role", "content", "images", "tool_calls", "thinking")


def _turn(role: Any = None, content: Any = None, **extra: Any) -> dict[str, Any]:
    """One speaker's turn: its text, and images and tool calls if any."""
    text, images = _content(content)
    more = extra.pop("images", None)
    images += [i for i in more if isinstance(i, dict)] if isinstance(more, list) else []
    calls = extra.pop("tool_calls", None)
    tool_calls = (calls if isinstance(calls, list) else []) + _tool_uses(content)
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
    fields = (
        "system",
        "instructions",
        "messages",
        "prompt",
        "suffix",
        "images",
        "input",
    )
    req = go_view(req, fields)
    turns = []
    for key in ("system", "instructions"):
        text = _system(req.get(key))
        if text:
            turns.append(_turn("system", text))
    messages = req.get("messages")
    for msg in messages if isinstance(messages, list) else []:
        if isinstance(msg, dict):
            turns.append(_turn(**go_view(msg, TURN_FIELDS)))
    if "prompt" in req:
        turns.append(_turn("user", req["prompt"], images=req.get("images")))
    if isinstance(req.get("suffix"), str) and req["suffix"]:  # text after the answer
        turns.append(_turn("suffix", req["suffix"]))
    if "input" in req:
        items = req["input"] if isinstance(req["input"], list) else [req["input"]]
        for item in items:
            role = go_field(item, "role")
            if role is not None:
                turns.append(_turn(role, go_field(item, "content")))
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
