"""Request bodies read as Go's encoding/json reads them: field names and errors."""

from __future__ import annotations

import json


def _go_int(text: str):
    """A JSON integer as Go holds one: Python's 4,300-digit limit does not apply."""
    return int(text) if len(text) < 4000 else float(text)


# The request fields Ollama's structs declare (top level, and of a message).
GO_FIELDS = (
    "model name messages prompt system suffix template context options stream "
    "keep_alive images format raw think tools input truncate dimensions source "
    "destination from files stream_options max_tokens temperature seed insecure "
    "quantize"
).split()
GO_MESSAGE_FIELDS = ("role", "content", "images", "tool_calls", "thinking")


def _go_fold(name: str) -> str:
    """A name as Go's encoding/json matches it: one character to one (simple case
    folding: the Kelvin sign is k, the long s is s, but ß is no "ss")."""
    out = []
    for c in name:
        f = c.casefold()
        if len(f) != 1:  # a full folding (ß -> ss): only the simple one counts
            f = c.lower() if len(c.lower()) == 1 else c
        out.append(f.upper() if f.isascii() else f)
    return "".join(out)


def _go_named(obj: dict, fields) -> dict:
    """``obj`` with every name that sets a Go field spelt as the field (the last
    spelling wins, as in Go); other names as they are."""
    folds = {_go_fold(f): f for f in fields}
    out: dict = {}
    for key, value in obj.items():
        name = folds.get(_go_fold(key), key) if isinstance(key, str) else key
        out.pop(name, None)
        out[name] = value
    return out


def _go_request(obj: dict) -> dict:
    """A request body as Ollama's decoder reads it (messages too)."""
    req = _go_named(obj, GO_FIELDS)
    if isinstance(req.get("messages"), list):
        req["messages"] = [
            _go_named(m, GO_MESSAGE_FIELDS) if isinstance(m, dict) else m
            for m in req["messages"]
        ]
    return req


def _word_count(text) -> int:
    if not isinstance(text, str):
        return 0
    return len(text.split())


def _go_json_error(raw: bytes, exc: json.JSONDecodeError) -> str:
    text = exc.doc
    pos = exc.pos
    if pos >= len(text.rstrip()):
        return "unexpected EOF"
    ch = text[pos]
    msg = exc.msg
    if msg.startswith("Expecting property name"):
        return f"invalid character '{ch}' looking for beginning of object key string"
    if msg.startswith("Expecting ':'"):
        return f"invalid character '{ch}' after object key"
    if msg.startswith("Expecting ',' delimiter"):
        return f"invalid character '{ch}' after object key:value pair"
    if msg.startswith("Extra data"):
        return f"invalid character '{ch}' after top-level value"
    return f"invalid character '{ch}' looking for beginning of value"
