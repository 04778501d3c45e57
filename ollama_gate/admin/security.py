"""Safety of the admin pages: no NUL characters, session cookie flags (the headers
and safe redirects every page shares are ``ollama_gate.web``'s)."""

from __future__ import annotations

from flask import Flask, Request, abort, request
from flask.sessions import SecureCookieSessionInterface, SessionMixin


def refuse_nul_characters() -> None:
    """400 for a NUL character in the query or form: PostgreSQL text cannot hold one."""
    # (it was a 500 there, on the public login form too; SQLite stored them)
    for values in (request.args, request.form):
        for key, value in values.items(multi=True):
            if "\x00" in key or "\x00" in value:
                abort(400, description="NUL characters are not allowed")


# The proxy's paths: API keys only, never an admin session (the two kinds never mix).
API_PREFIXES = ("/api/", "/v1/")


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, ``Secure`` whenever the request is HTTPS."""

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        """No session for the key-authenticated API: it never uses one (hot path)."""
        if request.path.startswith(API_PREFIXES):
            return self.null_session_class()
        return super().open_session(app, request)

    def get_cookie_secure(self, app: Flask) -> bool:
        """``Secure`` if configured, or if this request arrived over HTTPS."""
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure
