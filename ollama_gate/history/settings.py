"""History's settings rows (see ``ollama_gate/settings.py``)."""

from __future__ import annotations

from ..settings import Row


def parse_history_mode(value: str) -> str:
    """Parse a history mode: full, metadata or off."""
    v = value.strip().lower()
    if v not in ("full", "metadata", "off"):
        raise ValueError(f"not a history mode (full, metadata, off): {value!r}")
    return v


ROWS: list[Row] = [
    (
        "HISTORY_MODE",
        parse_history_mode,
        "full",
        "History of calls: `full`, `metadata` (no prompt or answer text) or `off`; "
        "a key's own mode wins.",
    ),
    (
        "HISTORY_RETENTION_DAYS",
        int,
        "90",
        "Days history is kept; older records are purged hourly; 0 keeps them forever.",
    ),
]
