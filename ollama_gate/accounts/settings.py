"""The accounts' settings rows (see ``ollama_gate/settings.py``)."""

from __future__ import annotations

from ..settings import Row, parse_bool

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
        float,
        "72",
        "Hours an invitation link works (once) unless `users invite --hours` says "
        "otherwise.",
    ),
]
