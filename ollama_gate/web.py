"""What every HTML page shares (admin, history, cache, self-service): the security
headers with their CSP, and the check that a ``next`` target stays on this site."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Response

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


def is_safe_next(target: str | None) -> bool:
    """True only for a path on this site (no scheme, host, ``//`` or backslash)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return False
    if any(ch in target for ch in "\\\r\n\t") or any(ord(ch) < 32 for ch in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc
