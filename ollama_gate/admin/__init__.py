"""The admin web UI (blueprint ``admin``, ``/admin``): login, users and keys, audit.

Sessions here never authorise API calls, and API keys never open these pages: the login
manager has no request loader, and the proxy reads keys only.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from flask import Flask, session

from ..accounts import invitations  # noqa: F401  (its table)
from ..accounts.roles import guard_blueprints
from ..accounts.sessions import LOGIN_AT, user_from_session_id
from ..extensions import login_manager
from . import (  # noqa: F401  (pages on bp)
    access,
    admins,
    audit,
    auth,
    errors,
    handout,
    ineffect,
    keylist,
    keys,
    networks,
    newkey,
    sorting,
    teams,
    users,
    userteam,
)
from .blueprint import bp
from .security import SessionInterface
from .summary import defaults
from .words import duration, plural, within


def init_app(app: Flask) -> None:
    """Register the pages, the login manager and the session rules on ``app``."""
    settings = app.config["GATE"]
    login_manager.init_app(app)
    login_manager.login_view = "admin.login"
    login_manager.login_message = "Please log in to see that page."
    login_manager.login_message_category = "info"
    login_manager.user_loader(session_loader(settings["SESSION_MAX_HOURS"]))
    app.session_interface = SessionInterface()
    app.config.update(
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=settings["SECURE_COOKIES"],
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings["SESSION_HOURS"]),
    )
    app.register_blueprint(bp)
    guard_blueprints(app)  # admin pages need the admin role (accounts.roles)
    app.add_template_filter(when)
    app.add_template_global(plural)
    app.add_template_filter(duration)
    app.add_template_filter(within)
    sorting.init_app(app)
    access.init_app(app)
    keylist.init_app(app)
    app.add_template_global(defaults, "key_defaults")


def session_loader(max_hours: float):
    """The login manager's loader: the session's account, unless the session is older
    than ``max_hours`` since its login, however active (an absolute lifetime)."""

    def load(session_id: str):
        login_at = session.get(LOGIN_AT)
        if not isinstance(login_at, (int, float)):
            return None  # a session from before lifetimes were kept: log in again
        if max_hours and time.time() - login_at > max_hours * 3600:
            return None
        return user_from_session_id(session_id)

    return load


def when(value: datetime | None, empty: str = "never") -> str:
    """A stored UTC time as ``YYYY-MM-DD HH:MM``, or ``empty``."""
    return f"{value:%Y-%m-%d %H:%M}" if value else empty
