"""Database models: users (people or apps) and the API keys they own."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import ForeignKey, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .accounts.mixin import AccountMixin
from .extensions import db
from .subject_settings import columns_mixin


def utcnow() -> datetime:
    """Timezone-naive UTC now, the form every timestamp is stored in."""
    return datetime.now(UTC).replace(tzinfo=None)


class Team(columns_mixin("team"), db.Model):
    """A group of users: its settings bound every member's keys (one pool each)."""

    __tablename__ = "teams"
    __table_args__ = {"sqlite_autoincrement": True}  # ids never reused, as for users

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    members: Mapped[list[User]] = relationship(
        back_populates="team", order_by="User.name"
    )


class User(AccountMixin, columns_mixin("user"), db.Model):
    """A person or an application that owns API keys, in at most one team; a person
    signs in as one (``accounts``) with a role: admin, team admin or member."""

    __tablename__ = "users"
    # never hand a deleted user's id to a new one (history and usage refer to ids)
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # its team, whose settings bound its keys; deleting a team leaves it team-less
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), default=None, index=True
    )
    team: Mapped[Team | None] = relationship(back_populates="members")
    # the account (issue 27): admin, team_admin (of team_id) or member
    role: Mapped[str] = mapped_column(
        String(16), default="member", server_default="member"
    )
    # None: no local password (an app, or a person who signs in with SSO only)
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    # part of the session id: a new password or a sign-out ends every session
    session_token: Mapped[str | None] = mapped_column(String(32), default=None)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)
    # "<issuer> <sub>" of the person at the identity provider (OpenID Connect)
    oidc_subject: Mapped[str | None] = mapped_column(
        String(255), unique=True, default=None
    )
    keys: Mapped[list[ApiKey]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="ApiKey.id"
    )


class ApiKey(columns_mixin("key"), db.Model):
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
    # per-key settings (history mode, limits, queue weight): columns made from
    # subject_settings.TABLE; None follows the user's, the team's, or the default
    # client networks (CIDR, comma separated) whose calls without a key act as this
    # key: for clients that cannot send one (the ollama CLI); None: none
    networks: Mapped[str | None] = mapped_column(Text, default=None)
    # the first key of this key's rotations, whose limit counters (quotas, rate
    # windows, concurrency) every later secret shares; None: the key is that first one
    limits_key_id: Mapped[int | None] = mapped_column(default=None, index=True)
    # an app key (a shared app such as Open WebUI): its calls name their end user in
    # headers, each person a subject of their own (``endusers``); other keys' such
    # headers are ignored
    app: Mapped[bool] = mapped_column(default=False, server_default=false())

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
