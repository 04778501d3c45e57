"""The end users each worker knows: made on first sight, cached, as chain levels.

A call from an app key that names a person needs their row (its id) and their
settings; both are cached per worker for ``ttl`` seconds (``KEY_CACHE_SECONDS``, as
keys are), so the hot path asks the database once per person and period, not per
call. A person seen first by two workers at once is inserted by one: the unique
(key, external id) constraint refuses the other, which reads the winner's row.

A person's level holds, for each setting, their own value, else the app key's
per-person defaults row's (external id ``*``), else none (the key's, user's and
team's levels behind it still apply).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from types import SimpleNamespace

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ..extensions import db
from ..models import utcnow
from ..subject_settings import rows_for
from ..subjects import Level, level_for
from .headers import Person
from .models import DEFAULTS, EndUser

MAX_ENTRIES = 50_000


@dataclass(frozen=True, slots=True)
class Known:
    """A person as a call carries them: row id, display name, and their level."""

    id: int
    external_id: str
    name: str
    level: Level
    person: Person  # as this call's headers name them (their display refreshed)


class Directory:
    """Per-worker cache of end users and per-person defaults (``ttl`` seconds)."""

    def __init__(self, ttl: float):
        self.ttl = ttl
        self._entries: dict[tuple[int, str], tuple[float, EndUser | None]] = {}
        self._lock = threading.Lock()

    def known(self, key_id: int, user_id: int, person: Person) -> Known:
        """The person of app key ``key_id`` (its limits id), made if new."""
        try:
            row = self._row(key_id, person.external_id, user_id, person)
            defaults = self._row(key_id, DEFAULTS, user_id, None)
        finally:
            db.session.remove()  # release the connection: the call may stream long
        name = person.name or row.name or row.external_id
        level = level_of(row, defaults, name)
        return Known(row.id, row.external_id, name, level, person)

    def _row(self, key_id: int, external_id: str, user_id: int, person):
        """The cached row (a detached copy), else the database's, else a new one
        (``person``: make it if missing; None for the defaults row: none is made)."""
        now = time.monotonic()
        hit = self._entries.get((key_id, external_id))
        if hit is not None and hit[0] > now:
            return hit[1]
        row = find(key_id, external_id)
        if row is None and person is not None:
            row = create(key_id, user_id, person)
        snap = detached(row) if row is not None else None
        if self.ttl > 0:
            with self._lock:
                if len(self._entries) >= MAX_ENTRIES:
                    self._entries.clear()
                self._entries[(key_id, external_id)] = (now + self.ttl, snap)
        return snap

    def clear(self) -> None:
        """Forget every cached person (tests, and after a change in this worker)."""
        with self._lock:
            self._entries.clear()


def find(key_id: int, external_id: str) -> EndUser | None:
    """The row of an app key's person (or defaults), if any."""
    return db.session.execute(
        select(EndUser).where(
            EndUser.key_id == key_id, EndUser.external_id == external_id
        )
    ).scalar_one_or_none()


def create(key_id: int, user_id: int, person: Person) -> EndUser:
    """Insert a person seen for the first time; another worker's insert wins a
    race (the unique constraint), and its row is read instead."""
    now = utcnow()
    try:
        db.session.execute(
            insert(EndUser).values(
                key_id=key_id,
                user_id=user_id,
                external_id=person.external_id,
                name=person.name,
                email=person.email,
                role=person.role,
                first_seen=now,
                last_seen=now,
            )
        )
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
    row = find(key_id, person.external_id)
    if row is None:  # cannot be: the insert or the other worker's made it
        raise SQLAlchemyError("end user vanished after its insert")
    return row


def detached(row: EndUser) -> SimpleNamespace:
    """The columns a level needs, out of the session (a cache outlives it)."""
    names = ["id", "external_id", "name", *(r.name for r in rows_for("end_user"))]
    return SimpleNamespace(**{n: getattr(row, n) for n in names})


def effective(row, defaults) -> SimpleNamespace:
    """Each setting: the person's own, else the defaults row's (None: neither)."""
    values = {}
    for setting in rows_for("end_user"):
        own = getattr(row, setting.name, None)
        if own is None and defaults is not None:
            own = getattr(defaults, setting.name, None)
        values[setting.name] = own
    return SimpleNamespace(**values)


def level_of(row, defaults, name: str) -> Level:
    """The person's level of a call's chain (their settings, or the defaults')."""
    return level_for("end_user", row.id, name, effective(row, defaults))
