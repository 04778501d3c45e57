"""One log line per API call, written after the call (off the hot path).

The line says who (the key's prefix and user, never the key), what (endpoint, model,
backend), how it went (status, tokens, times, cache) and the request id; never a
prompt or an answer. A call whose client saw a 502/503/504 or a broken stream is
logged as a warning with its backend, even with the call log off.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from ..call import Call
from ..pipeline import Stage
from ..turns import in_turns

log = logging.getLogger("ollama_gate.access")

SERVER_ERRORS = (502, 503, 504)
# a plain value needs no quotes when it holds none of: space, quote, =, control chars
_BARE = re.compile(r"[^\s\"=\x00-\x1f\x7f]+")


def call_fields(call: Call) -> dict[str, Any]:
    """The logged facts of a finished call, in the line's order."""
    stats = call.stats
    return {
        "id": call.request_id,
        "method": call.method,
        "endpoint": call.endpoint,
        "status": call.status,
        "model": call.model,
        "backend": call.backend,
        "key": call.identity.key_prefix,
        "user": call.identity.user_name,
        "in": stats.get("prompt_tokens"),
        "out": stats.get("completion_tokens"),
        "ttfb_ms": _ms(call.ttfb),
        "total_ms": _ms(call.total),
        "cache": call.cache,
        "client": call.client_addr,
        "disconnected": call.disconnected or None,
        "error": call.error,
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def format_line(fields: dict[str, Any], fmt: str) -> str:
    """``key=value`` pairs (``plain``) or one JSON object (``json``), empty ones left
    out; values a client chose (model names) are quoted, so a line stays one line."""
    kept = {k: v for k, v in fields.items() if v is not None and v != ""}
    if fmt == "json":
        return json.dumps(kept, separators=(",", ":"))
    parts = []
    for name, value in kept.items():
        text = str(value)
        parts.append(f"{name}={text if _BARE.fullmatch(text) else json.dumps(text)}")
    return "call " + " ".join(parts)


def write(fields: dict[str, Any], fmt: str) -> None:
    """Log one call's line: a warning when the client saw a server error."""
    failed = fields.get("status") in SERVER_ERRORS or bool(fields.get("error"))
    if failed and fields.get("backend") is None:
        fields["backend"] = "-"  # the warning names its backend, even when none
    if fmt != "off":
        log.log(logging.WARNING if failed else logging.INFO, format_line(fields, fmt))
    elif failed:
        log.warning(format_line(fields, "plain"))


class CallLog(Stage):
    """The call log's stage: a line per finished call, written in ``record``."""

    name = "call-log"

    def __init__(self, fmt: str):
        self.fmt = fmt

    def record(self, calls: list[Call]) -> None:
        """One line for each call of the batch."""
        for call in in_turns(calls):
            write(call_fields(call), self.fmt)
