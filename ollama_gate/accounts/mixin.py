"""What makes a ``users`` row an account one can sign in as (mixed into
``models.User``; this module imports no model, so models can import it)."""

from __future__ import annotations

from flask_login import UserMixin

from .passwords import (
    check_password_strength,
    hash_password,
    new_session_token,
    password_matches,
)
from .roles import ADMIN, STAFF, TEAM_ADMIN


class AccountMixin(UserMixin):
    """Password, session token and role of an account (the columns are the model's:
    ``role``, ``password_hash``, ``session_token``, ``team_id``)."""

    def set_password(self, password: str) -> None:
        """Hash and store ``password`` and end every existing session."""
        check_password_strength(password)
        self.password_hash = hash_password(password)
        self.session_token = new_session_token()

    def clear_password(self) -> None:
        """No local password any more (SSO only, or no sign-in); sessions end."""
        self.password_hash = None
        self.session_token = new_session_token()

    def check_password(self, password: str) -> bool:
        """True if ``password`` is this account's local password."""
        return password_matches(self.password_hash, password)

    def end_sessions(self) -> None:
        """End every session of this account (cookies are signed, not stored: the
        session id carries this token, so changing it voids them all)."""
        self.session_token = new_session_token()

    def get_id(self) -> str:
        """The id kept in the session: row id plus the current session token."""
        if not self.session_token:
            self.session_token = new_session_token()
        return f"{self.id}:{self.session_token}"

    @property
    def is_admin(self) -> bool:
        """Administers the whole gateway."""
        return self.role == ADMIN

    @property
    def is_team_admin(self) -> bool:
        """Administers the members of their own team."""
        return self.role == TEAM_ADMIN

    @property
    def is_staff(self) -> bool:
        """An admin or a team admin (may open the pages marked for staff)."""
        return self.role in STAFF

    def can_manage_team(self, team_id: int | None) -> bool:
        """True if this account may administer the team ``team_id``."""
        if self.is_admin:
            return True
        return self.is_team_admin and team_id is not None and team_id == self.team_id
