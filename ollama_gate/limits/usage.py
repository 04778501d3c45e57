"""Quota usage per key and period, kept in the database (it survives restarts).

A row counts a key's inference calls and tokens in one UTC period: ``d:2026-11-22``
(a day) or ``m:2026-11`` (a month). The recorder hook adds each batch of finished
calls; the counters that admission checks read are seeded from here.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db


class Usage(db.Model):
    """Calls and tokens of one key in one day or month (UTC)."""

    __tablename__ = "key_usage"
    __table_args__ = (UniqueConstraint("key_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(12))
    calls: Mapped[int] = mapped_column(BigInteger, default=0)
    tokens: Mapped[int] = mapped_column(BigInteger, default=0)


def day_period(when: datetime) -> str:
    """The day period of a naive UTC time."""
    return f"d:{when:%Y-%m-%d}"


def month_period(when: datetime) -> str:
    """The month period of a naive UTC time."""
    return f"m:{when:%Y-%m}"


def period_reset(period: str) -> datetime:
    """When a period ends (naive UTC): next midnight, or the next month's first day."""
    kind, stamp = period.split(":", 1)
    if kind == "d":
        return datetime.strptime(stamp, "%Y-%m-%d") + timedelta(days=1)
    start = datetime.strptime(stamp, "%Y-%m")
    return (start + timedelta(days=32)).replace(day=1)


def load_usage(key_id: int, period: str) -> tuple[int, int]:
    """(calls, tokens) of a key in a period, from the database."""
    row = db.session.execute(
        db.select(Usage.calls, Usage.tokens).where(
            Usage.key_id == key_id, Usage.period == period
        )
    ).first()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def add_usage(totals: dict[tuple[int, str], tuple[int, int]]) -> None:
    """Add (calls, tokens) per (key id, period) to the database; rows as needed."""
    # existing rows first, all in one transaction: a commit per row was most of the
    # recorder's cost with many keys in use (bench/)
    # (Core statements: the ORM's bulk update machinery cost more than the SQL itself)
    table = Usage.__table__
    missing = {}
    for (key_id, period), (calls, tokens) in totals.items():
        result = db.session.execute(
            update(table)
            .where(table.c.key_id == key_id, table.c.period == period)
            .values(calls=table.c.calls + calls, tokens=table.c.tokens + tokens)
        )
        if not result.rowcount:
            missing[(key_id, period)] = (calls, tokens)
    db.session.commit()
    for (key_id, period), (calls, tokens) in missing.items():
        for _attempt in range(
            2
        ):  # a row created meanwhile by another worker: update it
            result = db.session.execute(
                update(Usage)
                .where(Usage.key_id == key_id, Usage.period == period)
                .values(calls=Usage.calls + calls, tokens=Usage.tokens + tokens)
            )
            if result.rowcount:
                db.session.commit()
                break
            db.session.add(
                Usage(key_id=key_id, period=period, calls=calls, tokens=tokens)
            )
            try:
                db.session.commit()
                break
            except IntegrityError:  # a concurrent insert, or the key was deleted
                db.session.rollback()
