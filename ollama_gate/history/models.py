"""The history record: one row per API call, written after the call's last byte."""

from __future__ import annotations

import os
import re
import time
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text, event, update
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models import ApiKey, Team, User

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ID_RE = re.compile(r"^[0-9A-Za-z_-]{1,26}$")  # ours are ULIDs; imports may bring others
EPOCH = datetime(1970, 1, 1)


def new_id(when: datetime | None = None) -> str:
    """A ULID: 48 bits of milliseconds then 80 random bits, 26 sortable characters.

    Ids are made by the gateway (not the database) so that exports from several
    gateways merge without clashes and a second import of the same file adds nothing.
    """
    if when is None:
        ms = time.time_ns() // 1_000_000
    elif when.tzinfo is None:  # naive timestamps are UTC
        ms = int((when - EPOCH).total_seconds() * 1000)
    else:
        ms = int(when.timestamp() * 1000)
    value = (ms & ((1 << 48) - 1)) << 80 | int.from_bytes(os.urandom(10), "big")
    return "".join(CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def valid_id(value: str | None) -> bool:
    """True if ``value`` can be a record id (so it is safe to look up anywhere)."""
    return bool(value) and ID_RE.match(value) is not None


class Request(db.Model):
    """One recorded API call: who, what, the request and answer, and its statistics."""

    __tablename__ = "history_requests"

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    started_at: Mapped[datetime] = mapped_column(index=True)
    # local ids (nullable: imported records may name users this gateway does not have)
    user_id: Mapped[int | None] = mapped_column(default=None)
    user_name: Mapped[str] = mapped_column(String(120), default="")
    key_id: Mapped[int | None] = mapped_column(default=None)
    key_prefix: Mapped[str] = mapped_column(String(16), default="")
    key_name: Mapped[str] = mapped_column(String(120), default="")
    # the user's team when the call was made (a later move does not rewrite it)
    team_id: Mapped[int | None] = mapped_column(default=None)
    team_name: Mapped[str] = mapped_column(String(120), default="")
    method: Mapped[str] = mapped_column(String(8), default="POST")
    endpoint: Mapped[str] = mapped_column(String(200), default="")
    path: Mapped[str] = mapped_column(String(500), default="")
    model: Mapped[str | None] = mapped_column(String(200), default=None)
    upstream_model: Mapped[str | None] = mapped_column(String(200), default=None)
    backend: Mapped[str | None] = mapped_column(String(300), default=None)
    status: Mapped[int | None] = mapped_column(default=None)
    streamed: Mapped[bool] = mapped_column(default=False)
    completed: Mapped[bool] = mapped_column(default=False)
    disconnected: Mapped[bool] = mapped_column(default=False)
    truncated: Mapped[bool] = mapped_column(default=False)
    cache_hit: Mapped[bool] = mapped_column(default=False)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    mode: Mapped[str] = mapped_column(String(10), default="full")  # full or metadata
    done_reason: Mapped[str | None] = mapped_column(String(40), default=None)
    prompt_tokens: Mapped[int] = mapped_column(default=0)
    completion_tokens: Mapped[int] = mapped_column(default=0)
    total_tokens: Mapped[int] = mapped_column(default=0)
    ttfb_ms: Mapped[float | None] = mapped_column(default=None)
    # how long it waited in the gateway's queue for a backend slot (None: no wait)
    queue_ms: Mapped[float | None] = mapped_column(default=None)
    total_ms: Mapped[float | None] = mapped_column(default=None)
    client_addr: Mapped[str | None] = mapped_column(String(64), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(300), default=None)
    # the person behind an app key (endusers): their gateway id and display name
    end_user_id: Mapped[int | None] = mapped_column(default=None)
    end_user_name: Mapped[str | None] = mapped_column(String(120), default=None)
    # an app's background task (e.g. "title", "tags"); None: a chat or other call
    task: Mapped[str | None] = mapped_column(String(40), default=None)
    # searchable flattened text (empty in metadata mode)
    prompt_text: Mapped[str] = mapped_column(Text, default="")
    answer_text: Mapped[str] = mapped_column(Text, default="")
    # details: the request (images replaced by size and hash), answer parts, statistics
    request: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    answer: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    stats: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)

    __table_args__ = (
        Index("ix_history_user_time", "user_id", "started_at"),
        Index("ix_history_key_time", "key_id", "started_at"),
        Index("ix_history_team_time", "team_name", "started_at"),
        Index("ix_history_model", "model"),
        Index("ix_history_endpoint", "endpoint"),
        Index("ix_history_status", "status"),
        Index("ix_history_end_user_time", "end_user_id", "started_at"),
    )

    def is_error(self) -> bool:
        """True for a failed call: an error status or an error message."""
        return bool(self.error) or (self.status or 0) >= 400

    def to_dict(self) -> dict[str, Any]:
        """Every column as JSON-ready values (the export and API form)."""
        out: dict[str, Any] = {}
        for col in self.__table__.columns:
            value = getattr(self, col.key)
            out[col.key] = value.isoformat() if isinstance(value, datetime) else value
        return out


@event.listens_for(User, "after_delete")
def _detach_user(_mapper, connection, target: User) -> None:
    """A deleted user's records keep their names but lose the row ids.

    SQLite hands the highest free row id to the next user created (databases made
    before ``sqlite_autoincrement``), who would otherwise read these calls through
    ``/gate/api/history``.
    """
    table = Request.__table__
    connection.execute(
        update(table)
        .where(table.c.user_id == target.id)
        .values(user_id=None, key_id=None)
    )


@event.listens_for(ApiKey, "after_delete")
def _detach_key(_mapper, connection, target: ApiKey) -> None:
    """A deleted key's records lose its row id, which a new key may get again."""
    table = Request.__table__
    connection.execute(
        update(table).where(table.c.key_id == target.id).values(key_id=None)
    )


@event.listens_for(Team, "after_delete")
def _detach_team(_mapper, connection, target: Team) -> None:
    """A deleted team's records keep its name but lose its row id."""
    table = Request.__table__
    connection.execute(
        update(table).where(table.c.team_id == target.id).values(team_id=None)
    )
