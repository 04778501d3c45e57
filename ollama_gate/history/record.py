"""The recorder hook: turns finished calls into history rows, one transaction per batch.

Runs in the recorder's background worker after the last byte (see ``recorder.py``),
so no stream waits for it. The request is stored as sent except that image payloads
are replaced by their size and SHA-256; ``metadata`` mode keeps no prompt or answer
text at all.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import time
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, insert
from sqlalchemy.exc import OperationalError

from ..extensions import db
from ..models import utcnow
from ..pipeline import Stage
from .models import Request, new_id

log = logging.getLogger("ollama_gate.history")

MODES = ("full", "metadata", "off")
MAX_TEXT = 1_000_000  # characters kept of any one string of a request
# a batch is retried on a locked (SQLite) or dropped database connection
WRITE_ATTEMPTS = 3
PURGE_EVERY = 3600.0  # seconds between automatic retention purges in one process
# Request fields that carry no prompt text: the only ones kept in metadata mode.
META_KEYS = frozenset(
    {
        "model",
        "stream",
        "options",
        "keep_alive",
        "think",
        "raw",
        "truncate",
        "dimensions",
        "temperature",
        "top_p",
        "top_k",
        "seed",
        "n",
        "max_tokens",
        "max_completion_tokens",
        "max_output_tokens",
        "frequency_penalty",
        "presence_penalty",
        "stream_options",
        "reasoning_effort",
        "logprobs",
        "top_logprobs",
    }
)
# Request fields whose text is searched (prompts, system prompts, messages, inputs).
TEXT_KEYS = ("system", "instructions", "prompt", "suffix", "input", "messages")
ANSWER_KEYS = ("text", "thinking", "tool_calls")


def image_stub(data: str) -> dict[str, Any]:
    """What replaces an image payload: its decoded size and SHA-256."""
    raw_b64 = data.split(";base64,", 1)[1] if data.startswith("data:") else data
    try:
        raw = base64.b64decode(raw_b64, validate=False)
    except (binascii.Error, ValueError):
        raw = data.encode("utf-8", "surrogateescape")
    return {"image": True, "bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}


def strip_images(value: Any, key: str = "") -> Any:
    """A copy of a request with image payloads (``images``, data URLs) replaced."""
    if isinstance(value, dict):
        return {storable(k): strip_images(v, k) for k, v in value.items()}
    if isinstance(value, list):
        if key == "images":
            return [
                image_stub(v) if isinstance(v, str) else strip_images(v) for v in value
            ]
        return [strip_images(v) for v in value]
    if isinstance(value, str):
        if value.startswith("data:") and ";base64," in value[:100]:
            return image_stub(value)
        if len(value) > MAX_TEXT:
            value = value[:MAX_TEXT] + f"…[{len(value) - MAX_TEXT} characters cut]"
        return storable(value)  # pages and exports must encode it as UTF-8
    return value


def _strings(value: Any) -> list[str]:
    """The text pieces of a prompt field: strings, message contents, text parts."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    if isinstance(value, dict):
        return [
            s for k in ("content", "text") if k in value for s in _strings(value[k])
        ]
    return []


def prompt_text(payload: dict[str, Any] | None) -> str:
    """All prompt text of a request, joined, for full-text search."""
    if not payload:
        return ""
    parts = [s for key in TEXT_KEYS if key in payload for s in _strings(payload[key])]
    return "\n".join(p for p in parts if p)[:MAX_TEXT]


def call_mode(call, default: str) -> str:
    """The history mode for a call: its key's own mode, else the global default."""
    mode = getattr(call.identity, "history_mode", None)
    return mode if mode in MODES else default


def build_record(call, mode: str) -> Request:
    """The history row for a finished (and summarised) call, as an ORM object."""
    return Request(**record_values(call, mode))


def record_values(call, mode: str) -> dict[str, Any]:
    """The column values of a finished (and summarised) call's history row."""
    stats = dict(call.stats or {})
    ident = call.identity
    full = mode == "full"
    payload = call.payload if isinstance(call.payload, dict) else None
    answer = {k: stats.get(k) for k in ANSWER_KEYS if stats.get(k)}
    error = call.error or stats.get("error")
    values = dict(
        id=new_id(call.started_at),
        started_at=call.started_at,
        user_id=ident.user_id,
        user_name=ident.user_name,
        key_id=ident.key_id,
        key_prefix=ident.key_prefix,
        key_name=ident.key_name or "",
        method=call.method,
        endpoint=call.endpoint,
        path=call.path[:500],
        model=(call.model or None) and call.model[:200],
        upstream_model=call.extra.get("upstream_model"),
        backend=call.backend,
        status=call.status,
        streamed=call.streamed,
        completed=call.completed,
        disconnected=call.disconnected,
        truncated=call.truncated,
        cache_hit=bool(call.extra.get("cache_hit")),
        error=str(error) if error else None,
        mode=mode,
        done_reason=(
            str(stats["done_reason"])[:40] if stats.get("done_reason") else None
        ),
        prompt_tokens=int(stats.get("prompt_tokens") or 0),
        completion_tokens=int(stats.get("completion_tokens") or 0),
        total_tokens=int(stats.get("total_tokens") or 0),
        ttfb_ms=None if call.ttfb is None else round(call.ttfb * 1000, 3),
        total_ms=None if call.total is None else round(call.total * 1000, 3),
        client_addr=call.client_addr,
        user_agent=(call.user_agent or "")[:300] or None,
        prompt_text=prompt_text(payload) if full else "",
        answer_text=(stats.get("text") or "")[:MAX_TEXT] if full else "",
        request=(
            strip_images(payload)
            if full
            else strip_images({k: v for k, v in payload.items() if k in META_KEYS})
        )
        if payload
        else None,
        answer=(answer or None) if full else None,
        stats={k: v for k, v in stats.items() if k not in ANSWER_KEYS} or None,
    )
    for name, value in values.items():
        if isinstance(value, str):
            values[name] = storable(value)
    return values


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


def purge_before(cutoff: datetime) -> int:
    """Delete every record that started before ``cutoff``; return how many."""
    result = db.session.execute(delete(Request).where(Request.started_at < cutoff))
    db.session.commit()
    return result.rowcount or 0


class HistoryStage(Stage):
    """The record step: a batch of calls in one transaction; old ones purged hourly."""

    name = "history"

    def __init__(self) -> None:
        self.last_purge = 0.0

    def record(self, calls: list) -> None:
        """Record ``calls`` (the recorder has already summarised them)."""
        settings = current_app.config["GATE"]
        default = settings["HISTORY_MODE"]
        rows = []
        for call in calls:
            mode = call_mode(call, default)
            if mode == "off":
                continue
            try:
                rows.append(record_values(call, mode))
            except Exception:  # one odd call must not lose the rest of the batch
                log.exception("could not build a history record for %s", call.path)
        if rows:
            self.write(rows)
        self.maybe_purge(settings["HISTORY_RETENTION_DAYS"])

    def write(self, rows: list[dict[str, Any]]) -> None:
        """Insert ``rows`` in one transaction; retry a locked or lost database."""
        # a Core executemany: no ORM objects to build and flush for a write-only batch
        statement = insert(Request.__table__)
        for attempt in range(WRITE_ATTEMPTS):
            try:
                db.session.execute(statement, rows)
                db.session.commit()
                return
            except OperationalError:
                db.session.rollback()
                if attempt == WRITE_ATTEMPTS - 1:
                    raise
                log.warning("history write failed; retrying (%d)", attempt + 1)
                time.sleep(0.5 * (attempt + 1))
            except Exception:  # DBAPIError, or a driver that cannot encode a value
                db.session.rollback()
                break
        # a row the database refuses must not take the rest of its batch with it
        for row in rows:
            try:
                db.session.execute(statement, [row])
                db.session.commit()
            except Exception:
                db.session.rollback()
                log.exception("history record %s refused by the database", row["id"])

    def maybe_purge(self, days: int) -> None:
        """Apply the retention setting at most once per ``PURGE_EVERY`` seconds."""
        now = time.monotonic()
        if days <= 0 or (self.last_purge and now - self.last_purge < PURGE_EVERY):
            return
        self.last_purge = now
        deleted = purge_before(utcnow() - timedelta(days=days))
        if deleted:
            log.info(
                "history retention: purged %d records older than %d days", deleted, days
            )
