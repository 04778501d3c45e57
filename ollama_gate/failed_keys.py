"""Refused key attempts (401 unknown key, 403 unusable key) counted per hour, for the
dashboard. Counted in memory and written at most every ``FLUSH_SECONDS`` per process,
so a flood of bad keys costs no database write per request."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from datetime import datetime

from sqlalchemy import String, UniqueConstraint, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import db
from .models import utcnow

log = logging.getLogger(__name__)
FLUSH_SECONDS = 10.0


class FailedKeyCount(db.Model):
    """Refused key attempts with one status in one UTC hour."""

    __tablename__ = "failed_key_counts"
    __table_args__ = (UniqueConstraint("hour", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    hour: Mapped[str] = mapped_column(String(13))  # YYYY-MM-DD HH
    status: Mapped[int]
    count: Mapped[int] = mapped_column(default=0)


class FailedKeys:
    """The per-process counter of refused key attempts."""

    def __init__(self):
        self._counts: Counter[tuple[str, int]] = Counter()
        self._lock = threading.Lock()
        self._last = time.monotonic()

    def note(self, status: int) -> None:
        """Count one refused attempt; write the counts if they are due."""
        with self._lock:
            self._counts[(f"{utcnow():%Y-%m-%d %H}", status)] += 1
            due = time.monotonic() - self._last >= FLUSH_SECONDS
        if due:
            self.flush()

    def flush(self) -> None:
        """Add the counts so far to the database (needs an app context)."""
        with self._lock:
            counts, self._counts = self._counts, Counter()
            self._last = time.monotonic()
        if not counts:
            return
        table = FailedKeyCount.__table__
        try:
            for (hour, status), n in counts.items():
                where = (table.c.hour == hour, table.c.status == status)
                done = db.session.execute(
                    update(table).where(*where).values(count=table.c.count + n)
                ).rowcount
                if not done:
                    db.session.execute(
                        insert(table).values(hour=hour, status=status, count=n)
                    )
            db.session.commit()
        except SQLAlchemyError:  # a lost count is better than a failed request
            db.session.rollback()
            log.warning("could not store %d failed key attempts", sum(counts.values()))


def failed_key_attempts(start: datetime, end: datetime) -> dict[int, int]:
    """Refused key attempts by status between two naive UTC times (whole hours)."""
    rows = db.session.execute(
        select(FailedKeyCount.status, db.func.sum(FailedKeyCount.count))
        .where(
            FailedKeyCount.hour >= f"{start:%Y-%m-%d %H}",
            FailedKeyCount.hour <= f"{end:%Y-%m-%d %H}",
        )
        .group_by(FailedKeyCount.status)
    ).all()
    return {int(status): int(n) for status, n in rows}
