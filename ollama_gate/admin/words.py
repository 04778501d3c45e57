"""Counts and states in plain words for the admin pages."""

from __future__ import annotations


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 key``, ``5 keys``, ``no keys``: counts in plain words, not ``key(s)``."""
    if count == 0:
        return f"no {many or word + 's'}"
    return f"{count:,} {word if count == 1 else many or word + 's'}"
