"""Signing in and out, for every way in (local password, invitation, OpenID Connect).

Sessions are signed cookies; the session id holds the account's ``session_token``
so a password change or a sign-out ends every copy of the cookie on the server side.
"""

from __future__ import annotations

import secrets
import time

from flask import current_app, session
from flask_login import current_user, login_user, logout_user

from ..audit import record
from ..extensions import db
from ..models import User, utcnow
from .roles import STAFF

LOGIN_AT = "login_at"  # in the session: when it began (Unix time)
PORTAL_URL = "/portal/"  # a plain path: the portal is its own blueprint
ADMIN_URL = "/admin/"


def local_passwords() -> bool:
    """True unless local passwords are turned off (``LOCAL_PASSWORDS``); the CLI
    sets passwords either way."""
    return bool(current_app.config["GATE"]["LOCAL_PASSWORDS"])


def start_session(user: User, method: str) -> None:
    """Sign ``user`` in by ``method`` ("password", "invite", "oidc"): a fresh session,
    its lifetime, the last login time and an audit row; commits."""
    session.clear()  # nothing from before the login survives it
    login_user(user)
    session.permanent = True
    session[LOGIN_AT] = time.time()  # for the absolute lifetime
    user.last_login_at = utcnow()
    record("login", detail=f"method={method}", admin=user)
    db.session.commit()


def end_session(everywhere: bool = True) -> None:
    """Sign the current account out and commit; ``everywhere`` (the default) also
    voids every other copy of its session: its session token changes."""
    if everywhere and current_user.is_authenticated:
        current_user._get_current_object().end_sessions()
    logout_user()
    session.clear()
    db.session.commit()


def keep_session_after_password_change(user: User) -> None:
    """The session id changed with the password: keep this session, end the others."""
    login_user(user)
    session[LOGIN_AT] = time.time()


def user_from_session_id(session_id: str) -> User | None:
    """The account for a session id made by ``get_id``, if it is still valid."""
    ident, _, token = session_id.partition(":")
    if not ident.isdigit() or not token:
        return None
    user = db.session.get(User, int(ident))
    if user is None or not user.session_token:
        return None
    if not secrets.compare_digest(user.session_token, token):
        return None
    return user


def landing_url(user: User) -> str:
    """Where an account lands after signing in: admin pages for staff, else
    the portal."""
    return ADMIN_URL if user.role in STAFF else PORTAL_URL
