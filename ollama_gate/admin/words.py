"""Counts and states in plain words for the admin pages."""

from __future__ import annotations


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 key``, ``5 keys``, ``no keys``: counts in plain words, not ``key(s)``."""
    if count == 0:
        return f"no {many or word + 's'}"
    return f"{count:,} {word if count == 1 else many or word + 's'}"


UNITS = ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second"))


def duration(seconds: float) -> str:
    """``86400`` as ``1 day``, ``5400`` as ``90 minutes``, ``0.5`` as ``0.5 seconds``:
    the largest unit that divides it evenly."""
    for size, unit in UNITS:
        if seconds >= size and seconds % size == 0:
            return plural(int(seconds // size), unit)
    return f"{seconds:g} seconds"


def within(seconds: float) -> str:
    """When every worker sees a key change: ``within 30 seconds``, or ``at once``."""
    return "at once" if seconds <= 0 else f"within {duration(seconds)}"
