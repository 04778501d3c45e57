"""The cache's tables: the cached answers and the hit and miss counters."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db


class CacheEntry(db.Model):
    """One cached answer (compressed), under the hash of its request and scope."""

    __tablename__ = "cache_entries"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(40), default="")
    model: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(index=True)  # the oldest go first
    expires_at: Mapped[datetime] = mapped_column(index=True)
    size: Mapped[int] = mapped_column(default=0)  # bytes of ``body``
    body: Mapped[bytes] = mapped_column(LargeBinary)


class CacheCounter(db.Model):
    """A running count of the cache: ``hits`` or ``misses`` since the last clear."""

    __tablename__ = "cache_counters"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)
