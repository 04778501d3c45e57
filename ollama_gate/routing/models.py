"""The fleet's tables: backends (Ollama servers or other gateways), model routes
pinning a model to named backends, and aliases naming a model another way."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models import utcnow


class Backend(db.Model):
    """One upstream server the gateway may send calls to.

    A row with the name of an ``OLLAMA_GATE_BACKENDS`` entry overrides that entry
    (its URL, token, state); a row of its own adds a backend.
    """

    __tablename__ = "backends"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    url: Mapped[str] = mapped_column(String(300))
    # a bearer token sent to this backend only (another gateway's key); never shown
    token: Mapped[str | None] = mapped_column(Text, default=None)
    enabled: Mapped[bool] = mapped_column(default=True)
    weight: Mapped[int] = mapped_column(default=1)
    # calls of one model this backend runs at once (the scheduler); None: no cap
    parallel: Mapped[int | None] = mapped_column(default=None)
    # models it holds loaded at once (the swap order of the queue); None: learned
    max_loaded: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ModelRoute(db.Model):
    """A model pinned to one backend (a model may have several rows)."""

    __tablename__ = "model_routes"
    __table_args__ = (UniqueConstraint("model", "backend"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model: Mapped[str] = mapped_column(String(200), index=True)  # canonical name
    # by name, not id: a backend of OLLAMA_GATE_BACKENDS has no row of its own
    backend: Mapped[str] = mapped_column(String(64))


class Alias(db.Model):
    """Another name for a model: calls naming ``name`` run ``model``."""

    __tablename__ = "model_aliases"

    id: Mapped[int] = mapped_column(primary_key=True)
    # as the admin wrote it (lists show it so); matched as Ollama matches names
    name: Mapped[str] = mapped_column(String(200), unique=True)
    model: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
