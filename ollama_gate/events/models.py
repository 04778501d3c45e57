"""The events' tables: what happened (``events``), where to send it (``hooks``) and
every attempt to send it (``deliveries``, one row per attempt)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models import utcnow


class Event(db.Model):
    """One fact worth telling an operator: a budget crossed, a backend down."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(200), default="", index=True)
    message: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # the same fact seen by several workers or hosts makes one row: they all write
    # the same text here and the unique index keeps the first
    dedupe: Mapped[str] = mapped_column(String(300), unique=True)


class Hook(db.Model):
    """A URL every matching event is POSTed to, signed with its secret."""

    __tablename__ = "hooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(500))
    # signs each delivery, so it is kept as given (as a backend's token is): shown
    # once when it is made, never after
    secret: Mapped[str] = mapped_column(Text)
    # event kinds it gets, comma separated (``backend.*`` for a family); "": all
    kinds: Mapped[str] = mapped_column(String(500), default="")
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Delivery(db.Model):
    """One attempt to send one event to one hook: due, or made with its outcome.

    A failed attempt with tries left adds the next one, due after a backoff; the
    unique (event, hook, attempt) makes that row once whichever worker sent it.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "hook_id", "attempt"),
        Index("ix_deliveries_due", "done", "next_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), index=True
    )
    # a deleted hook's attempts stay on record (with its URL then)
    hook_id: Mapped[int | None] = mapped_column(
        ForeignKey("hooks.id", ondelete="SET NULL"), index=True
    )
    url: Mapped[str] = mapped_column(String(500), default="")
    attempt: Mapped[int] = mapped_column(default=1)
    next_at: Mapped[datetime] = mapped_column(default=utcnow)  # due from then
    # a worker's claim: it alone sends this attempt until the lease ends
    claimed_by: Mapped[str | None] = mapped_column(String(40), default=None)
    claimed_until: Mapped[datetime | None] = mapped_column(default=None)
    at: Mapped[datetime | None] = mapped_column(default=None)  # when it was sent
    status: Mapped[int | None] = mapped_column(default=None)  # the HTTP status
    error: Mapped[str | None] = mapped_column(String(300), default=None)
    done: Mapped[bool] = mapped_column(default=False)  # made (or given up)

    @property
    def outcome(self) -> str:
        """The attempt in words: ``200``, ``could not connect``, ``due 12:00:05``."""
        if not self.done:
            return f"due {self.next_at:%Y-%m-%d %H:%M:%S}"
        if self.status is not None:
            return str(self.status)
        return self.error or "failed"

    @property
    def ok(self) -> bool:
        """True when the receiver answered 2xx."""
        return self.status is not None and 200 <= self.status < 300
