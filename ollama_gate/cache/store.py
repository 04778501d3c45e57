"""Where cached answers live: the database by default (every worker shares it), or
Redis; each with a TTL and a size bound that evicts the oldest entries first.

A store's ``get`` runs on the path of a call; ``put`` and ``count`` run in the
recorder's background batches. Bodies are compressed JSON (see ``replay.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import Flask
from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import utcnow
from .models import CacheCounter, CacheEntry

EVICT_BATCH = 500  # oldest entries read at a time when over a bound
_TABLE = CacheEntry.__table__
_GET = select(_TABLE.c.body).where(  # built once: the lookup is on the hot path
    _TABLE.c.key == bindparam("key"), _TABLE.c.expires_at > bindparam("now")
)


@dataclass(frozen=True, slots=True)
class Entry:
    """An answer to cache: its key, what it answered, and the compressed body."""

    key: str
    endpoint: str
    model: str
    body: bytes


class DatabaseStore:
    """Cached answers in the gateway's database (``cache_entries``)."""

    kind = "database"

    def __init__(self, ttl: float, max_bytes: int, max_entries: int):
        self.ttl = timedelta(seconds=ttl)
        self.max_bytes = max_bytes
        self.max_entries = max_entries

    def get(self, key: str) -> bytes | None:
        """The body cached under ``key``, unless expired (in an app context)."""
        # a connection of its own, given back at once: a stream must not hold one
        with db.engine.connect() as conn:
            return conn.execute(_GET, {"key": key, "now": utcnow()}).scalar()

    def put(self, entries: list[Entry]) -> None:
        """Cache ``entries`` (replacing any under the same keys), then evict."""
        latest = {e.key: e for e in entries}  # the same request twice: the last
        now = utcnow()
        rows = [
            dict(
                key=e.key,
                endpoint=e.endpoint[:40],
                model=e.model[:200],
                created_at=now,
                expires_at=now + self.ttl,
                size=len(e.body),
                body=e.body,
            )
            for e in latest.values()
        ]
        table = CacheEntry.__table__
        for attempt in range(2):
            try:
                db.session.execute(delete(table).where(table.c.key.in_(list(latest))))
                db.session.execute(insert(table), rows)
                self._evict(now)
                db.session.commit()
                return
            except IntegrityError:  # another worker cached the same key meanwhile
                db.session.rollback()
                if attempt:
                    raise

    def _evict(self, now) -> None:
        table = CacheEntry.__table__
        db.session.execute(delete(table).where(table.c.expires_at <= now))
        count, size = db.session.execute(
            select(func.count(), func.coalesce(func.sum(table.c.size), 0))
        ).one()
        while count > self.max_entries or size > self.max_bytes:
            oldest = db.session.execute(
                select(table.c.key, table.c.size)
                .order_by(table.c.created_at, table.c.key)
                .limit(EVICT_BATCH)
            ).all()
            if not oldest:
                break
            victims = []
            for key, entry_size in oldest:
                if count <= self.max_entries and size <= self.max_bytes:
                    break
                victims.append(key)
                count, size = count - 1, size - entry_size
            db.session.execute(delete(table).where(table.c.key.in_(victims)))

    def count(self, hits: int, misses: int) -> None:
        """Add to the hit and miss counters."""
        table = CacheCounter.__table__
        for attempt in range(2):
            try:
                for name, by in (("hits", hits), ("misses", misses)):
                    if not by:
                        continue
                    done = db.session.execute(
                        update(table)
                        .where(table.c.name == name)
                        .values(value=table.c.value + by)
                    )
                    if not done.rowcount:  # the first count since a clear
                        db.session.execute(insert(table).values(name=name, value=by))
                db.session.commit()
                return
            except IntegrityError:  # another worker made the counter meanwhile
                db.session.rollback()
                if attempt:
                    raise

    def stats(self) -> dict[str, int]:
        """Entries and bytes cached now, hits and misses counted since the last
        clear."""
        table = CacheEntry.__table__
        entries, size = db.session.execute(
            select(func.count(), func.coalesce(func.sum(table.c.size), 0)).where(
                table.c.expires_at > utcnow()
            )
        ).one()
        counters = dict(
            db.session.execute(select(CacheCounter.name, CacheCounter.value)).all()
        )
        return {
            "entries": int(entries),
            "bytes": int(size),
            "hits": int(counters.get("hits", 0)),
            "misses": int(counters.get("misses", 0)),
        }

    def clear(self) -> int:
        """Forget every entry and the counters; return how many entries went."""
        gone = db.session.execute(delete(CacheEntry.__table__)).rowcount or 0
        db.session.execute(delete(CacheCounter.__table__))
        db.session.commit()
        return gone


def make_store(app: Flask):
    """The store the settings choose: Redis when asked or when ``REDIS_URL`` is set
    (unless ``CACHE_STORE=database``), else the database."""
    s = app.config["GATE"]
    bounds = (
        s["CACHE_TTL_SECONDS"],
        int(s["CACHE_MAX_MB"] * 1024 * 1024),
        s["CACHE_MAX_ENTRIES"],
    )
    kind = s["CACHE_STORE"] or ("redis" if s["REDIS_URL"] else "database")
    if kind == "redis":
        if not s["REDIS_URL"]:
            raise RuntimeError(
                "OLLAMA_GATE_CACHE_STORE=redis needs OLLAMA_GATE_REDIS_URL"
            )
        from .redis_store import RedisStore  # redis only when configured

        return RedisStore(app, *bounds)
    return DatabaseStore(*bounds)
