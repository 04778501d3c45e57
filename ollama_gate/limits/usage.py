"""Quota usage per key and period, kept in the database (it survives restarts).

A row counts a key's inference calls and tokens in one period (``periods.py``): a
day ``d:2026-11-22``, an ISO week ``w:2026-W47`` or a month ``m:2026-11``, in the
gateway's time zone (named after ``@`` outside UTC). The recorder hook adds each
batch of finished calls; the counters that admission checks read are seeded from here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    String,
    UniqueConstraint,
    bindparam,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from ..endusers.models import EndUserUsage
from ..extensions import db
from ..models import ApiKey, User
from ..turns import turn_if_due
from .periods import period_of
from .periods import period_reset as period_reset  # its older home


class Usage(db.Model):
    """Calls and tokens of one key in one day, week or month."""

    __tablename__ = "key_usage"
    __table_args__ = (UniqueConstraint("key_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(64))
    calls: Mapped[int] = mapped_column(BigInteger, default=0)
    tokens: Mapped[int] = mapped_column(BigInteger, default=0)


def day_period(when: datetime, zone: str = "UTC") -> str:
    """The day period of a naive UTC time in ``zone``."""
    return period_of("d", when, zone)


def week_period(when: datetime, zone: str = "UTC") -> str:
    """The ISO week period (Monday first) of a naive UTC time in ``zone``."""
    return period_of("w", when, zone)


def month_period(when: datetime, zone: str = "UTC") -> str:
    """The month period of a naive UTC time in ``zone``."""
    return period_of("m", when, zone)


def load_usage(ref: int | str, period: str) -> tuple[int, int]:
    """(calls, tokens) in a period of the subject whose counters are kept under
    ``ref`` (``Subject.ref``), from the database: a key's (its limits id: the key
    and its rotations), a user's (all its keys) or a team's (all its members' keys).

    The rows stay per key: a user's or team's usage is the sum of its keys' rows, so
    recording writes no more rows and a counter seeded after a restart is exact.
    """
    kind, _, ident = str(ref).rpartition(":")
    query = db.select(db.func.sum(Usage.calls), db.func.sum(Usage.tokens)).join(
        ApiKey, ApiKey.id == Usage.key_id
    )
    if kind == "":
        limits_id = int(ident)
        query = query.where(
            or_(ApiKey.id == limits_id, ApiKey.limits_key_id == limits_id)
        )
    elif kind == "user":
        query = query.where(ApiKey.user_id == int(ident))
    elif kind == "team":
        query = query.join(User, User.id == ApiKey.user_id).where(
            User.team_id == int(ident)
        )
    elif kind == "end_user":  # a person behind an app key: their own rows
        query = db.select(EndUserUsage.calls, EndUserUsage.tokens).where(
            EndUserUsage.end_user_id == int(ident)
        )
        row = db.session.execute(query.where(EndUserUsage.period == period)).first()
        return (int(row[0]), int(row[1])) if row else (0, 0)
    else:
        return (0, 0)
    row = db.session.execute(query.where(Usage.period == period)).first()
    return (int(row[0] or 0), int(row[1] or 0)) if row else (0, 0)


def add_usage(totals: dict[tuple[int, str], tuple[int, int]]) -> None:
    """Add (calls, tokens) per (key id, period) to the database; rows as needed."""
    add_counts(Usage.__table__, Usage.__table__.c.key_id, totals)


def add_counts(table, owner, totals) -> None:
    """Add (calls, tokens) per (owner id, period) to ``table``'s rows (``owner``: its
    owner column, e.g. ``key_usage.key_id``), inserting the missing rows first."""
    # one executemany of one prepared UPDATE for the whole batch: a statement built per
    # row was most of the recorder's quota cost with many keys in use (bench/)
    owners = {ident for ident, _ in totals}
    periods = {period for _, period in totals}
    existing = set(
        db.session.execute(
            select(owner, table.c.period).where(
                owner.in_(owners), table.c.period.in_(periods)
            )
        ).all()
    )
    for ident, period in totals.keys() - existing:  # an owner's first call of a period
        turn_if_due()  # a new day or month: every key in use gets its rows at once
        try:
            db.session.execute(
                insert(table).values(
                    {owner.name: ident, "period": period, "calls": 0, "tokens": 0}
                )
            )
            db.session.commit()
        except IntegrityError:  # made meanwhile by another worker, or the key is gone
            db.session.rollback()
    db.session.execute(
        update(table)
        .where(owner == bindparam("k"), table.c.period == bindparam("p"))
        .values(
            calls=table.c.calls + bindparam("c"), tokens=table.c.tokens + bindparam("t")
        ),
        [
            {"k": ident, "p": period, "c": calls, "t": tokens}
            for (ident, period), (calls, tokens) in totals.items()
        ],
    )
    db.session.commit()
