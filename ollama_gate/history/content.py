"""What a history record keeps of a request: images replaced by their size and
hash, text and nesting bounded, every string storable in any database.

A 100 MB body was once stored whole, and its page weighed 140 MB: a record keeps at
most ``MAX_REQUEST_TEXT`` characters of request text in all.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

from ..gofields import same_field

MAX_TEXT = 1_000_000  # characters kept of any one string of a request
MAX_REQUEST_TEXT = 2_000_000  # characters kept of all a request's strings together
MAX_DEPTH = 64  # levels of a request's nesting kept in its record


def image_stub(data: str) -> dict[str, Any]:
    """What replaces an image payload: its decoded size and SHA-256."""
    raw_b64 = data.split(";base64,", 1)[1] if data.startswith("data:") else data
    try:
        raw = base64.b64decode(raw_b64, validate=False)
    except (binascii.Error, ValueError):
        raw = data.encode("utf-8", "surrogateescape")
    return {"image": True, "bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}


def strip_images(value: Any) -> Any:
    """A copy of a request with image payloads (``images``, data URLs) replaced,
    nesting past ``MAX_DEPTH`` cut (Go decodes it; a recursive copy would fail) and
    text past ``MAX_REQUEST_TEXT`` in all cut, marked ``truncated`` at the top."""
    budget = [MAX_REQUEST_TEXT]
    out = _copy(value, "", 0, budget)
    if budget[0] < 0 and isinstance(out, dict):
        out["truncated"] = True
    return out


def _copy(value: Any, key: str, depth: int, budget: list[int]) -> Any:
    if isinstance(value, (dict, list)) and depth >= MAX_DEPTH:
        return f"…[nested deeper than {MAX_DEPTH} levels, cut]"
    if isinstance(value, dict):
        return {storable(k): _copy(v, k, depth + 1, budget) for k, v in value.items()}
    if isinstance(value, list):
        if same_field(key, "images"):  # any spelling Go reads as images
            return [
                image_stub(v) if isinstance(v, str) else _copy(v, "", depth + 1, budget)
                for v in value
            ]
        return [_copy(v, "", depth + 1, budget) for v in value]
    if isinstance(value, str):
        if value.startswith("data:") and ";base64," in value[:100]:
            return image_stub(value)
        keep = max(0, min(MAX_TEXT, budget[0]))
        budget[0] -= len(value)
        if len(value) > keep:
            value = value[:keep] + f"…[{len(value) - keep} characters cut]"
        return storable(value)  # pages and exports must encode it as UTF-8
    return value


def storable(text: str) -> str:
    """``text`` as every database can store it: NUL and lone surrogates as U+FFFD."""
    if "\x00" in text:  # PostgreSQL text cannot hold NUL characters
        text = text.replace("\x00", "\ufffd")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # "\ud800" in the JSON: no driver can encode it
            text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text
