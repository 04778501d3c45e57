"""History rows inserted through the driver on SQLite, one prepared statement a batch.

SQLAlchemy's executemany runs every row's values through its compiled statement's
parameter processing (``construct_params``, the bind processors looked up per row):
that was 40% of the history step's cost on a whole call (bench/PROFILE.md). The rows
here have the same columns every time (``record_values``), so the statement is
compiled once per dialect and the rows go to the driver as tuples, each value through
its column type's own bind processor (the same conversion SQLAlchemy makes).

Only SQLite takes this path. On PostgreSQL SQLAlchemy's "insertmanyvalues" sends a
batch as a few multi-row INSERTs, which a plain driver executemany would not; a row
with other columns than the table's (none today) takes SQLAlchemy's path too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

Prepared = tuple[str, tuple[str, ...], tuple[Callable[[Any], Any] | None, ...]]


class RowInserter:
    """Insert rows of one table in one statement a batch (see the module's doc)."""

    def __init__(self, table: Table):
        self.table = table
        self.columns = frozenset(table.columns.keys())
        self._prepared: dict[str, Prepared] = {}  # per dialect name

    def __call__(self, session: Session, rows: list[dict[str, Any]]) -> None:
        """Insert ``rows`` in the session's transaction (the caller commits)."""
        conn = session.connection()
        dialect = conn.dialect
        if dialect.name != "sqlite" or any(r.keys() != self.columns for r in rows):
            session.execute(insert(self.table), rows)
            return
        sql, names, processors = self._prepare(dialect)
        pairs = tuple(zip(names, processors, strict=True))
        conn.exec_driver_sql(
            sql, [tuple(_value(row[n], p) for n, p in pairs) for row in rows]
        )

    def _prepare(self, dialect) -> Prepared:
        """The statement with every column, its bind names in order, and each
        column's bind processor for ``dialect`` (None: the value goes as it is)."""
        prepared = self._prepared.get(dialect.name)
        if prepared is None:
            compiled = insert(self.table).compile(
                dialect=dialect, column_keys=sorted(self.columns)
            )
            names = tuple(compiled.positiontup or ())
            types = {c.key: c.type for c in self.table.columns}
            processors = tuple(
                types[n].dialect_impl(dialect).bind_processor(dialect) for n in names
            )
            prepared = (str(compiled), names, processors)
            self._prepared[dialect.name] = prepared
        return prepared


def _value(value: Any, processor: Callable[[Any], Any] | None) -> Any:
    """A column's value as the driver takes it (a processor sees None too, as in
    SQLAlchemy: JSON's writes it as ``null``)."""
    return value if processor is None else processor(value)
