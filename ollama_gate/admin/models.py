"""Admin accounts: the people who log in to the web UI."""

from __future__ import annotations

import secrets
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from ..models import utcnow
from ..offload import off_loop

MIN_PASSWORD_LENGTH = 10


# checked when the name is unknown: a wrong name costs as long as a wrong password
_DUMMY_HASH = generate_password_hash(secrets.token_urlsafe(16))


def new_session_token() -> str:
    """A random token that ties sessions to the current password."""
    return secrets.token_hex(16)


class Admin(UserMixin, db.Model):
    """A person allowed into the admin pages; the password has a slow salted hash."""

    __tablename__ = "admins"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    # part of the session id: a new password or deleting the admin ends every session
    session_token: Mapped[str] = mapped_column(String(32), default=new_session_token)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)

    def set_password(self, password: str) -> None:
        """Hash and store ``password`` (werkzeug's scrypt) and end existing sessions."""
        check_password_strength(password)
        self.password_hash = off_loop(generate_password_hash, password)
        self.session_token = new_session_token()

    def check_password(self, password: str) -> bool:
        """True if ``password`` is this admin's password."""
        return off_loop(check_password_hash, self.password_hash, password)

    def get_id(self) -> str:
        """The id kept in the session: row id plus the current session token."""
        return f"{self.id}:{self.session_token}"


def check_password_strength(password: str) -> None:
    """Raise ``ValueError`` for passwords too short to resist guessing."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(
            f"the password needs at least {MIN_PASSWORD_LENGTH} characters"
        )


def burn_password_check(password: str) -> None:
    """Spend the time of a real check, for logins with an unknown name."""
    off_loop(check_password_hash, _DUMMY_HASH, password)


def admin_from_session_id(session_id: str) -> Admin | None:
    """The admin for a session id made by ``Admin.get_id``, if it is still valid."""
    ident, _, token = session_id.partition(":")
    if not ident.isdigit() or not token:
        return None
    admin = db.session.get(Admin, int(ident))
    if admin is None or not secrets.compare_digest(admin.session_token, token):
        return None
    return admin
