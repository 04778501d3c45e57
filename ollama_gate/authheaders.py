"""Where a call's API key is read from: ``Authorization`` (Bearer, or Basic with the
key as password), ``X-API-Key`` or ``apikey``; and why a call without one has none."""

from __future__ import annotations

import base64
import binascii

AUTH_HEADERS = ("Authorization", "X-API-Key", "apikey")
MISSING = "missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"


def key_from_headers(headers) -> tuple[str | None, str | None]:
    """Return (key, header it came from) from ``Authorization: Bearer``, ``Basic``,
    ``X-API-Key`` or ``apikey``."""
    auth = headers.get("Authorization")
    if auth:
        scheme, _, value = auth.strip().partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer" and value.strip():
            return value.strip(), "Authorization"
        if scheme == "basic":
            key = basic_key(value)
            if key:
                return key, "Authorization"
    for name in AUTH_HEADERS[1:]:
        value = headers.get(name)
        if value and value.strip():
            return value.strip(), name
    return None, None


def basic_key(value: str) -> str | None:
    """The key of a Basic credential: its password (``http://user:KEY@host``, as
    llm-ollama and URL userinfo send it), or its user name when the password is
    empty; None when it holds neither or does not decode."""
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, _, password = decoded.partition(":")
    return password.strip() or user.strip() or None


def missing_key_message(headers) -> str:
    """Why a call carries no usable key, for its 401."""
    auth = (headers.get("Authorization") or "").strip()
    if not auth:
        return MISSING
    scheme, _, value = auth.partition(" ")
    scheme = scheme.lower()
    if scheme == "basic" and value.strip():
        try:
            base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return "malformed Basic authorization: send base64 of 'user:<key>'"
    if scheme in ("bearer", "basic"):
        return MISSING
    return (
        "unsupported authorization scheme: send 'Authorization: Bearer <key>', "
        "Basic with the key as password, or 'X-API-Key: <key>'"
    )
