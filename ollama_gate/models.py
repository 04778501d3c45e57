"""Database models: users (people or apps) and the API keys they own."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db


def utcnow() -> datetime:
    """Timezone-naive UTC now, the form every timestamp is stored in."""
    return datetime.now(UTC).replace(tzinfo=None)


class User(db.Model):
    """A person or an application that owns API keys."""

    __tablename__ = "users"
    # never hand a deleted user's id to a new one (history and usage refer to ids)
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    keys: Mapped[list[ApiKey]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="ApiKey.id"
    )


class ApiKey(db.Model):
    """An API key; only its SHA-256 hash and a short visible prefix are stored."""

    __tablename__ = "api_keys"
    __table_args__ = {"sqlite_autoincrement": True}  # ids never reused, as for users

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120), default="")
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    disabled: Mapped[bool] = mapped_column(default=False)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    # a rotated key keeps working until then (the grace period), and never after
    revoke_at: Mapped[datetime | None] = mapped_column(default=None)
    # history of this key's calls: full, metadata or off; None follows HISTORY_MODE
    history_mode: Mapped[str | None] = mapped_column(String(10), default=None)
    # per-key limits (ollama_gate/limits/); None: the global RATE_LIMIT, or no limit
    rate_limit: Mapped[str | None] = mapped_column(String(200), default=None)
    calls_per_day: Mapped[int | None] = mapped_column(default=None)
    tokens_per_day: Mapped[int | None] = mapped_column(default=None)
    calls_per_month: Mapped[int | None] = mapped_column(default=None)
    tokens_per_month: Mapped[int | None] = mapped_column(default=None)
    # model name patterns the key may use, comma or newline separated; None: every model
    model_allowlist: Mapped[str | None] = mapped_column(Text, default=None)
    scopes: Mapped[str] = mapped_column(String(200), default="")  # e.g. "manage"
    max_concurrency: Mapped[int | None] = mapped_column(default=None)
    # its share of backend slots when calls wait in the gateway's queue; None: 1
    queue_weight: Mapped[int | None] = mapped_column(default=None)
    # client networks (CIDR, comma separated) whose calls without a key act as this
    # key: for clients that cannot send one (the ollama CLI); None: none
    networks: Mapped[str | None] = mapped_column(Text, default=None)
    # the first key of this key's rotations, whose limit counters (quotas, rate
    # windows, concurrency) every later secret shares; None: the key is that first one
    limits_key_id: Mapped[int | None] = mapped_column(default=None, index=True)

    user: Mapped[User] = relationship(back_populates="keys")

    @property
    def limits_id(self) -> int:
        """The id its limit counters are kept under: one for all its rotations."""
        return self.limits_key_id or self.id

    def state(self, now: datetime | None = None) -> str:
        """One of ``active``, ``disabled``, ``revoked`` or ``expired``."""
        now = now or utcnow()
        if self.revoked_at is not None or (
            self.revoke_at is not None and self.revoke_at <= now
        ):
            return "revoked"
        if self.disabled:
            return "disabled"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"
