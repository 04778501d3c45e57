"""The recorder hook: turns finished calls into history rows, one transaction per batch.

Runs in the recorder's background worker after the last byte (see ``recorder.py``),
so no stream waits for it. The request is stored as sent except that image payloads
are replaced by their size and SHA-256; ``metadata`` mode keeps no prompt or answer
text at all.
"""

from __future__ import annotations

import copy
import logging
import time
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete
from sqlalchemy.exc import OperationalError

from ..columns import fit_strings
from ..extensions import db
from ..gofields import go_field, go_view
from ..models import utcnow
from ..pipeline import Stage
from ..subjects import chain_value
from ..turns import in_turns
from .content import MAX_TEXT, storable, strip_images
from .insert import RowInserter
from .models import Request, new_id

log = logging.getLogger("ollama_gate.history")

MODES = ("full", "metadata", "off")
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
TOKENS = ("prompt_tokens", "completion_tokens", "total_tokens")


def _strings(value: Any) -> list[str]:
    """The text pieces of a prompt field: strings, message contents, text parts."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    if isinstance(value, dict):
        # a message's content is a struct field to Go (any spelling, the last wins);
        # a content part is a map to Ollama, its "text" read as spelt
        found = (go_field(value, "content"), value.get("text"))
        return [s for item in found if item is not None for s in _strings(item)]
    return []


def prompt_text(payload: dict[str, Any] | None) -> str:
    """All prompt text of a request as the model ran it, joined, for search."""
    if not payload:
        return ""
    fields = go_view(payload, TEXT_KEYS)  # "MESSAGES" after "messages" is what ran
    parts = [s for value in fields.values() for s in _strings(value)]
    return "\n".join(p for p in parts if p)[:MAX_TEXT]


def call_mode(call, default: str) -> str:
    """The history mode for a call: the most specific level's (key, user, team),
    else the global default."""
    mode = chain_value(call, "history_mode")
    return mode if mode in MODES else default


def team_of(ident) -> dict[str, Any]:
    """The caller's team as the history row keeps it (none: no id, empty name)."""
    for level in getattr(ident, "levels", ()):
        if level.subject.kind == "team":
            return {"team_id": level.subject.id, "team_name": level.subject.name}
    return {"team_id": None, "team_name": ""}


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
        **team_of(ident),
        method=call.method,
        endpoint=call.endpoint,
        path=call.path[:500],
        model=(call.model or None) and call.model[:200],
        upstream_model=call.upstream_model,
        backend=call.backend,
        status=call.status,
        streamed=call.streamed,
        completed=call.completed,
        disconnected=call.disconnected,
        truncated=call.truncated,
        cache_hit=call.cache == "hit",
        error=str(error) if error else None,
        mode=mode,
        done_reason=(
            str(stats["done_reason"])[:40] if stats.get("done_reason") else None
        ),
        prompt_tokens=int(stats.get("prompt_tokens") or 0),
        completion_tokens=int(stats.get("completion_tokens") or 0),
        total_tokens=int(stats.get("total_tokens") or 0),
        ttfb_ms=None if call.ttfb is None else round(call.ttfb * 1000, 3),
        queue_ms=(
            None if call.queue_wait is None else round(call.queue_wait * 1000, 3)
        ),
        total_ms=None if call.total is None else round(call.total * 1000, 3),
        end_user_id=call.end_user.id if call.end_user is not None else None,
        end_user_name=call.end_user.name if call.end_user is not None else None,
        task=call.task,
        client_addr=call.client_addr,
        user_agent=(call.user_agent or "")[:300] or None,
        prompt_text=(prompt_text(payload) or raw_text(call)) if full else "",
        answer_text=(stats.get("text") or "")[:MAX_TEXT] if full else "",
        request=stored_request(call, payload, full),
        answer=(answer or None) if full else None,
        stats={k: v for k, v in stats.items() if k not in ANSWER_KEYS} or None,
    )
    for name, value in values.items():
        if isinstance(value, str):
            values[name] = storable(value)
    return fit_strings(Request.__table__, values)


def stored_request(call, payload: dict[str, Any] | None, full: bool) -> Any:
    """The request as its record keeps it (raw and marked when it did not parse)."""
    if payload:
        if full:
            return strip_images(payload)
        return strip_images({k: v for k, v in payload.items() if k in META_KEYS})
    raw = raw_text(call)
    return {"unparsed": True, "raw": raw} if raw and full else None


def raw_text(call) -> str:
    """The first bytes of a body no parser could read, as text ('' if none)."""
    raw = call.unparsed
    return storable(raw.decode("utf-8", "replace")) if raw else ""


def fallback_values(call, mode: str) -> dict[str, Any]:
    """A record without the request's content, for a call whose record failed."""
    bare = copy.copy(call)
    bare.payload, bare.unparsed, bare.extra, bare.stats = None, b"", {}, {}
    bare.upstream_model = bare.cache = bare.queue_wait = None  # as ``extra``
    values = record_values(bare, mode)
    values["request"] = {"unrecorded": "the request could not be recorded"}
    values["stats"] = {k: v for k, v in (call.stats or {}).items() if k in TOKENS}
    for name in TOKENS:
        values[name] = int((call.stats or {}).get(name) or 0)
    return values


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
        self.insert = RowInserter(Request.__table__)

    def record(self, calls: list) -> None:
        """Record ``calls`` (the recorder has already summarised them)."""
        settings = current_app.config["GATE"]
        default = settings["HISTORY_MODE"]
        rows = []
        for call in in_turns(calls):
            mode = call_mode(call, default)
            if mode == "off":
                continue
            try:
                rows.append(record_values(call, mode))
            except Exception:  # every call keeps a record, if not all of its content
                log.exception("could not build a history record for %s", call.path)
                rows.append(fallback_values(call, mode))
        if rows:
            self.write(rows)
        self.maybe_purge(settings["HISTORY_RETENTION_DAYS"])

    def write(self, rows: list[dict[str, Any]]) -> None:
        """Insert ``rows`` in one transaction; retry a locked or lost database."""
        # no ORM objects to build and flush for a write-only batch (``insert.py``)
        for attempt in range(WRITE_ATTEMPTS):
            try:
                self.insert(db.session, rows)
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
                self.insert(db.session, [row])
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
