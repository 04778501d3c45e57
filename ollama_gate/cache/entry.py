"""What the cache keeps of an answer: its JSON objects in the framing it came in.

A finished call's answer (``call.body``) is kept only when it is complete and
clean: status 200, not cut short, no error line, a native stream ending ``done``, a
``/v1`` stream ending ``[DONE]``. The objects are kept as parsed, so a replay in the
same framing is the answer as sent; ``replay.py`` converts between framings.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from ..call import Call

VERSION = 1
NDJSON, SSE, WHOLE = "ndjson", "sse", "json"


def framing_of(content_type: str) -> str | None:
    """The framing of an answer of this content type, or None (not cached)."""
    if content_type.startswith("application/x-ndjson"):
        return NDJSON
    if content_type.startswith("text/event-stream"):
        return SSE
    if content_type.startswith("application/json"):
        return WHOLE
    return None


def _objects(body: bytes, framing: str) -> list[Any] | None:
    if framing == WHOLE:
        return [json.loads(body)]
    if framing == NDJSON:
        return [json.loads(line) for line in body.split(b"\n") if line.strip()]
    data = [ln[5:].strip() for ln in body.split(b"\n") if ln.startswith(b"data:")]
    if not data or data[-1] != b"[DONE]":
        return None  # a /v1 stream that did not end
    return [json.loads(line) for line in data[:-1]]


def capture(call: Call) -> dict[str, Any] | None:
    """The cache entry for a finished call's answer, or None if it must not be kept."""
    if (
        call.status != 200
        or not call.completed
        or call.truncated
        or call.disconnected
        or call.error
        or call.stats.get("error")
    ):
        return None
    framing = framing_of(call.content_type)
    if framing is None:
        return None
    try:
        objs = _objects(call.body, framing)
    except ValueError:
        return None
    if not objs or not all(isinstance(o, dict) and "error" not in o for o in objs):
        return None
    if framing == NDJSON and objs[-1].get("done") is not True:
        return None
    if objs[-1].get("done_reason") in ("load", "unload"):
        return None
    return {"v": VERSION, "framing": framing, "objs": objs}


def pack(entry: dict[str, Any]) -> bytes:
    """An entry as stored: compact JSON, compressed."""
    text = json.dumps(entry, separators=(",", ":"), ensure_ascii=False)
    return zlib.compress(text.encode("utf-8", "surrogatepass"), 1)


def unpack(blob: bytes) -> dict[str, Any] | None:
    """A stored entry, or None if it cannot be read (another version, damage)."""
    try:
        entry = json.loads(zlib.decompress(blob).decode("utf-8", "surrogatepass"))
    except (zlib.error, ValueError, UnicodeDecodeError):
        return None
    if (
        not isinstance(entry, dict)
        or entry.get("v") != VERSION
        or entry.get("framing") not in (NDJSON, SSE, WHOLE)
        or not isinstance(entry.get("objs"), list)
        or not entry["objs"]
        or not all(isinstance(obj, dict) for obj in entry["objs"])
    ):
        return None  # never a hit that answers nothing
    return entry
