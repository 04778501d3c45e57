"""The end users of app keys, and their usage per period (the quota seed)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models import utcnow
from ..subject_settings import columns_mixin

DEFAULTS = "*"  # the external id of an app key's per-person defaults row
# bounds of what a header may store (longer values are cut, never refused)
MAX_EXTERNAL_ID = 200
MAX_NAME = 120
MAX_EMAIL = 254
MAX_ROLE = 40


class EndUser(columns_mixin("end_user"), db.Model):
    """A person behind an app key, known by the id the app gives them.

    ``key_id`` is the app key's limits id (one person for every rotation of the
    key); ``external_id`` identifies, ``name``/``email``/``role`` are display only
    (refreshed from the headers). The row with external id ``*`` holds the app
    key's per-person defaults: what a person gets for each setting they do not set.
    """

    __tablename__ = "end_users"
    __table_args__ = (
        UniqueConstraint("key_id", "external_id", name="uq_end_users_key_external"),
        Index("ix_end_users_user", "user_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key_id: Mapped[int] = mapped_column()  # the app key's limits id (no FK: history)
    user_id: Mapped[int] = mapped_column()  # the app key's owner, for listing
    external_id: Mapped[str] = mapped_column(String(MAX_EXTERNAL_ID))
    name: Mapped[str] = mapped_column(String(MAX_NAME), default="")
    email: Mapped[str] = mapped_column(String(MAX_EMAIL), default="")
    role: Mapped[str] = mapped_column(String(MAX_ROLE), default="")
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def is_defaults(self) -> bool:
        """True for an app key's per-person defaults row."""
        return self.external_id == DEFAULTS

    @property
    def label(self) -> str:
        """How pages and refusals name the person: their name, else their id."""
        if self.is_defaults:
            return "per-person defaults"
        return self.name or self.external_id


class EndUserUsage(db.Model):
    """Inference calls and tokens of one end user in one day, week or month (the
    gateway's time zone, as ``limits/periods.py`` names them)."""

    __tablename__ = "end_user_usage"
    __table_args__ = (UniqueConstraint("end_user_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    end_user_id: Mapped[int] = mapped_column(index=True)
    period: Mapped[str] = mapped_column(String(64))  # w:2026-W50@Europe/Paris
    calls: Mapped[int] = mapped_column(BigInteger, default=0)
    tokens: Mapped[int] = mapped_column(BigInteger, default=0)
