"""The key holders' own pages' settings rows (see ``ollama_gate/settings.py``)."""

from __future__ import annotations

from ..settings import Row

ROWS: list[Row] = [
    (
        "SELF_SERVICE_RATE_LIMIT",
        str,
        "10/minute",
        "Keys a client address may look up per period on the key holder's page "
        "`/gate/usage`, and failed look-ups on `/gate/api/usage` (Flask-Limiter "
        "syntax).",
    ),
]
