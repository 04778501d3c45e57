"""Per-model policy: a default or enforced ``num_ctx`` and ``keep_alive``, and how
many copies of the model to keep loaded."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models import utcnow


class ModelPolicy(db.Model):
    """What the gateway adds to (or enforces on) every call of one model."""

    __tablename__ = "model_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    model: Mapped[str] = mapped_column(String(200), unique=True)  # canonical name
    num_ctx: Mapped[int | None] = mapped_column(default=None)
    # enforced: replaces the client's value; else added only when the call has none
    num_ctx_enforced: Mapped[bool] = mapped_column(default=False)
    keep_alive: Mapped[str | None] = mapped_column(String(40), default=None)
    keep_alive_enforced: Mapped[bool] = mapped_column(default=False)
    warm: Mapped[int] = mapped_column(default=0)  # copies kept loaded across backends
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
