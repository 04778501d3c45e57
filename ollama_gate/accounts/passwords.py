"""Password rules and hashing (werkzeug's scrypt), run off the event loop."""

from __future__ import annotations

import secrets

from werkzeug.security import check_password_hash, generate_password_hash

from ..offload import off_loop

MIN_PASSWORD_LENGTH = 10

# checked when the name is unknown: a wrong name costs as long as a wrong password
_DUMMY_HASH = generate_password_hash(secrets.token_urlsafe(16))


def new_session_token() -> str:
    """A random token that ties sessions to the current password."""
    return secrets.token_hex(16)


def check_password_strength(password: str) -> None:
    """Raise ``ValueError`` for passwords too short to resist guessing."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(
            f"the password needs at least {MIN_PASSWORD_LENGTH} characters"
        )


def hash_password(password: str) -> str:
    """The slow salted hash of ``password`` (scrypt; in a thread under gevent)."""
    return off_loop(generate_password_hash, password)


def password_matches(password_hash: str | None, password: str) -> bool:
    """True if ``password`` matches ``password_hash``; an account without a local
    password (None) matches nothing, after the time a real check takes."""
    if not password_hash:
        burn_password_check(password)
        return False
    return off_loop(check_password_hash, password_hash, password)


def burn_password_check(password: str) -> None:
    """Spend the time of a real check, for logins with an unknown name."""
    off_loop(check_password_hash, _DUMMY_HASH, password)
