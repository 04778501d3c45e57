"""Row values cut to their columns' lengths before an insert.

PostgreSQL refuses a string longer than its ``String(n)`` column (SQLite stores it),
and the refusal costs the whole row: a client address of 100 characters (a forwarded
header) or a long unknown path meant no history record at all. Each length is read
from the table itself, so a column made longer or shorter needs no second edit here.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import String, Table


@lru_cache(maxsize=32)
def string_lengths(table: Table) -> dict[str, int]:
    """The length of every ``String(n)`` column of ``table``, by column key."""
    return {
        column.key: column.type.length
        for column in table.columns
        if isinstance(column.type, String) and column.type.length
    }


def fit_strings(table: Table, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with each string cut to its column's length (changed in place)."""
    for name, length in string_lengths(table).items():
        value = values.get(name)
        if isinstance(value, str) and len(value) > length:
            values[name] = value[:length]
    return values
