"""Writing the event log: one row per fact, however many workers or hosts saw it,
with a due delivery for each webhook that wants it, in one transaction."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError

from ..extensions import db
from .emit import Fact
from .kinds import matches
from .models import Delivery, Event, Hook

MESSAGE_CHARS = 2000  # a message is a line or two; a runaway one is cut


def plain_data(data: Any) -> dict[str, Any] | None:
    """``data`` as plain JSON (dates and odd values as text), or None."""
    if not data:
        return None
    out = json.loads(json.dumps(data, default=str))
    return out if isinstance(out, dict) else {"value": out}


def dedupe_of(fact: Fact) -> str | None:
    """The fact's dedupe text; None when it is a change the log holds already."""
    if not fact.states:
        return (fact.dedupe or f"once|{uuid.uuid4().hex}")[:300]
    last = db.session.execute(
        db.select(Event.id, Event.kind)
        .where(Event.subject == fact.subject, Event.kind.in_(fact.states))
        .order_by(Event.id.desc())
        .limit(1)
    ).first()
    if last is not None and last.kind == fact.kind:
        return None  # no change: another worker (or host) recorded it
    if last is None and not fact.first:
        return None
    # two workers that saw the same last event write the same text: one row
    return f"{fact.kind}|{fact.subject}|after {last.id if last else 0}"[:300]


def write(fact: Fact) -> Event | None:
    """Record ``fact`` once, with its deliveries; None when it was recorded already
    (here or by another worker). Commits."""
    dedupe = dedupe_of(fact)
    if dedupe is None:
        return None
    seen = db.session.execute(db.select(Event.id).where(Event.dedupe == dedupe))
    if seen.first() is not None:
        return None
    event = Event(
        at=fact.at,
        kind=fact.kind[:64],
        subject=fact.subject[:200],
        message=fact.message[:MESSAGE_CHARS],
        data=plain_data(fact.data),
        dedupe=dedupe,
    )
    db.session.add(event)
    try:
        db.session.flush()
        for hook in wanting(event.kind):
            db.session.add(
                Delivery(event_id=event.id, hook_id=hook.id, url=hook.url, attempt=1)
            )
        db.session.commit()
    except IntegrityError:  # another worker wrote the same fact first
        db.session.rollback()
        return None
    return event


def wanting(kind: str) -> list[Hook]:
    """The enabled hooks whose filter takes events of ``kind``."""
    hooks = db.session.execute(db.select(Hook).where(Hook.enabled.is_(True)))
    return [h for h in hooks.scalars() if matches(h.kinds, kind)]
