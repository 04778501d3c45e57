"""The portal's settings rows (see ``ollama_gate/settings.py``); the team policy
itself is per team (``subject_rows/portal_rows.py``)."""

from __future__ import annotations

from ..settings import Row, parse_bool


def parse_keys(text: str) -> int:
    """A number of keys, 0 or more."""
    n = int(text.strip())
    if n < 0:
        raise ValueError("must be 0 or more")
    return n


ROWS: list[Row] = [
    (
        "PORTAL_MAX_KEYS",
        parse_keys,
        "5",
        "Most active keys a person may hold when making keys in the portal "
        "`/portal/`, where their team sets none (a team's `--portal-max-keys` "
        "wins); 0: people without such a team make no keys there.",
    ),
    (
        "PORTAL_HISTORY",
        parse_bool,
        "true",
        "Show people their own recorded calls in the portal (what their history "
        "mode kept: no prompt text under `metadata`); `false` hides the page.",
    ),
]
