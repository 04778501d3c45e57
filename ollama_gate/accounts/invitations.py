"""Invitations: a one-time link with which a person sets their password.

Only the token's SHA-256 is stored (like API keys): the link is shown once, to
whoever made it, and a copy of the database cannot be turned into a sign-in. A link
works once and until it expires; making a new one for the same person voids theirs.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..models import User, utcnow
from .settings import MAX_INVITE_HOURS

DEFAULT_HOURS = 72
MAX_HOURS = MAX_INVITE_HOURS
INVITE_PATH = "/invite/"


class Invitation(db.Model):
    """A one-time link for ``user`` to set a password, valid until ``expires_at``."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_by: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)

    user: Mapped[User] = relationship()

    def usable(self, now: datetime | None = None) -> bool:
        """True if the link has not been used and has not expired."""
        return self.used_at is None and (now or utcnow()) < self.expires_at


def hash_token(token: str) -> str:
    """The stored form of an invitation token."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_invitation(user: User, created_by: str, hours: float) -> str:
    """A new link token for ``user`` (the caller commits and shows it once); their
    earlier unused links stop working."""
    if not 0 < hours <= MAX_HOURS:
        raise ValueError(
            f"an invitation lasts more than 0 and at most {MAX_HOURS} hours"
        )
    now = utcnow()
    for old in db.session.execute(
        db.select(Invitation).where(
            Invitation.user_id == user.id, Invitation.used_at.is_(None)
        )
    ).scalars():
        old.used_at = now  # voided: one live link per person
    token = secrets.token_urlsafe(32)
    db.session.add(
        Invitation(
            token_hash=hash_token(token),
            user_id=user.id,
            created_by=created_by,
            created_at=now,
            expires_at=now + timedelta(hours=hours),
        )
    )
    return token


def find_invitation(token: str) -> Invitation | None:
    """The usable invitation for ``token``, or None (unknown, used or expired)."""
    if not token or len(token) > 200:
        return None
    found = db.session.execute(
        db.select(Invitation).where(Invitation.token_hash == hash_token(token))
    ).scalar_one_or_none()
    return found if found is not None and found.usable() else None


def invite_link(base_url: str, token: str) -> str:
    """The full link for ``token`` under ``base_url`` (scheme and host)."""
    return base_url.rstrip("/") + INVITE_PATH + token
