"""Safety of the admin pages: headers, safe redirects, session cookie flags."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Request, Response, abort, request
from flask.sessions import SecureCookieSessionInterface, SessionMixin

# Scripts and styles only from the gateway's own static files: no inline code, no CDN.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def add_security_headers(response: Response) -> Response:
    """Headers every admin page carries (CSP, no framing, no sniffing, no caching)."""
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    # pages may show a fresh key or personal data: keep them out of every cache
    response.headers["Cache-Control"] = "no-store"
    return response


def refuse_nul_characters() -> None:
    """400 for a NUL character in the query or form: PostgreSQL text cannot hold one."""
    # (it was a 500 there, on the public login form too; SQLite stored them)
    for values in (request.args, request.form):
        for key, value in values.items(multi=True):
            if "\x00" in key or "\x00" in value:
                abort(400, description="NUL characters are not allowed")


def is_safe_next(target: str | None) -> bool:
    """True only for a path on this site (no scheme, host, ``//`` or backslash)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return False
    if any(ch in target for ch in "\\\r\n\t") or any(ord(ch) < 32 for ch in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


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
