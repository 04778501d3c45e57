"""How long the event log keeps events: ``EVENT_RETENTION_DAYS``, applied hourly by
every worker's event thread (deleting the same old rows twice is harmless) and on
demand by ``events prune``.

An event's deliveries go with it (their foreign key cascades; the delete names them
too, for SQLite connections without foreign keys on). A delivery still due for an
event that old would only be sent late, so it goes too.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import Flask

from ..extensions import db
from ..models import utcnow
from .models import Delivery, Event

log = logging.getLogger("ollama_gate.events")

PRUNE_SECONDS = 3600.0  # how often each worker applies the retention
BATCH = 5000  # events deleted per statement: no long lock on a big log


def prune(days: int) -> int:
    """Delete events older than ``days`` days; how many went."""
    before = utcnow() - timedelta(days=days)
    total = 0
    while True:
        ids = (
            db.session.execute(
                db.select(Event.id).where(Event.at < before).limit(BATCH)
            )
            .scalars()
            .all()
        )
        if not ids:
            return total
        db.session.execute(db.delete(Delivery).where(Delivery.event_id.in_(ids)))
        db.session.execute(db.delete(Event).where(Event.id.in_(ids)))
        db.session.commit()
        total += len(ids)


def retention_job(app: Flask) -> int:
    """The hourly job: apply the setting (0 keeps every event)."""
    days = app.config["GATE"]["EVENT_RETENTION_DAYS"]
    if days <= 0:
        return 0
    deleted = prune(days)
    if deleted:
        log.info("event retention: deleted %d events older than %d days", deleted, days)
    return deleted
