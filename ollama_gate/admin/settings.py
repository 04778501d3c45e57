"""The admin UI's settings rows (see ``ollama_gate/settings.py``)."""

from __future__ import annotations

from ..settings import Row, parse_bool

ROWS: list[Row] = [
    (
        "LOGIN_RATE_LIMIT",
        str,
        "5/minute",
        "Failed admin logins allowed per client address (Flask-Limiter syntax).",
    ),
    ("SESSION_HOURS", float, "12", "Hours an admin session lasts without activity."),
    (
        "SESSION_MAX_HOURS",
        float,
        "24",
        "Hours an admin session lasts at most since its login, however active; "
        "0 = no limit.",
    ),
    (
        "SECURE_COOKIES",
        parse_bool,
        "false",
        "Always mark the admin session cookie `Secure` (it is whenever a request "
        "is HTTPS).",
    ),
]
