"""Finding end users: the lists (CLI and admin page), one person, the defaults row,
and a person's usage per period."""

from __future__ import annotations

from sqlalchemy import Select, or_, select

from ..extensions import db
from ..models import ApiKey, User, utcnow
from .models import DEFAULTS, EndUser, EndUserUsage

MAX_SEARCH = 200


def people_query(user: str = "", search: str = "", key_id: int | None = None) -> Select:
    """End users (not the defaults rows), most recently seen first, narrowed by the
    app key's user name, the app key (limits id) and a search in id, name, email."""
    query = (
        select(EndUser, User.name)
        .join(User, User.id == EndUser.user_id, isouter=True)
        .where(EndUser.external_id != DEFAULTS)
        .order_by(EndUser.last_seen.desc(), EndUser.id.desc())
    )
    if user:
        query = query.where(User.name == user)
    if key_id is not None:
        query = query.where(EndUser.key_id == key_id)
    search = search.strip()[:MAX_SEARCH]
    if search:
        like = f"%{escape_like(search)}%"
        query = query.where(
            or_(
                EndUser.external_id.ilike(like, escape="\\"),
                EndUser.name.ilike(like, escape="\\"),
                EndUser.email.ilike(like, escape="\\"),
            )
        )
    return query


def escape_like(text: str) -> str:
    """``text`` with LIKE's wildcards taken literally (``escape="\\"``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def defaults_for(key: ApiKey, create: bool = False) -> EndUser | None:
    """The app key's per-person defaults row (made when ``create``)."""
    row = db.session.execute(
        select(EndUser).where(
            EndUser.key_id == key.limits_id, EndUser.external_id == DEFAULTS
        )
    ).scalar_one_or_none()
    if row is None and create:
        now = utcnow()
        row = EndUser(
            key_id=key.limits_id,
            user_id=key.user_id,
            external_id=DEFAULTS,
            name="",
            email="",
            role="",
            first_seen=now,
            last_seen=now,
        )
        db.session.add(row)
        db.session.flush()
    return row


def app_key_of(person: EndUser) -> ApiKey | None:
    """The app key a person came through (its first key of rotations)."""
    return db.session.get(ApiKey, person.key_id)


def usage_of(person: EndUser) -> list[tuple[str, int, int]]:
    """(period, calls, tokens) of a person: weeks, months, days, newest first."""
    rows = db.session.execute(
        select(EndUserUsage.period, EndUserUsage.calls, EndUserUsage.tokens)
        .where(EndUserUsage.end_user_id == person.id)
        .order_by(EndUserUsage.period.desc())
        .limit(62)
    ).all()
    return [(p, int(c), int(t)) for p, c, t in rows]
