"""The accounts' settings rows (see ``ollama_gate/settings.py``)."""

from __future__ import annotations

from ..settings import Row, parse_bool

MAX_INVITE_HOURS = 24 * 30  # (invitations.MAX_HOURS: a link is not a standing key)


def parse_invite_hours(value: str) -> float:
    """Hours an invitation works: more than 0, at most 30 days."""
    hours = float(value)
    if not 0 < hours <= MAX_INVITE_HOURS:
        raise ValueError(f"{value!r}: more than 0 and at most {MAX_INVITE_HOURS}")
    return hours


ROWS: list[Row] = [
    (
        "LOCAL_PASSWORDS",
        parse_bool,
        "true",
        "Let people sign in with a password kept by the gateway (and set one with an "
        "invitation link); off: only the identity provider signs people in (the CLI "
        "still sets passwords, for an admin's way back in).",
    ),
    (
        "INVITE_HOURS",
        parse_invite_hours,
        "72",
        "Hours an invitation link works (once) unless `users invite --hours` says "
        "otherwise.",
    ),
]
