"""Shared by every package that changes things: ``record`` an admin action in the
audit log, and ``atomic``, a change made whole or not at all (``FleetError``)."""

from __future__ import annotations

import functools
from datetime import datetime

from flask import has_request_context, request
from flask_login import current_user
from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .columns import fit_strings
from .extensions import db
from .models import User, utcnow
from .remote import client_of


class AuditLog(db.Model):
    """One admin action: who, when, from where, what, and on what."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # who acted (an account in ``users``; the column kept its name from when admins
    # had a table of their own); the name is copied so entries stay readable after
    # the account is deleted
    admin_name: Mapped[str] = mapped_column(String(80), default="")
    admin_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    action: Mapped[str] = mapped_column(String(40), index=True)
    target: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    client_addr: Mapped[str] = mapped_column(String(64), default="")


def client_address() -> str:
    """The address of the client of the current request ("local" outside a request)."""
    if not has_request_context():
        return "local"
    return client_of(request.environ).address[:64]


def record(
    action: str,
    target: str = "",
    detail: str = "",
    admin: User | None = None,
    admin_name: str | None = None,
) -> AuditLog:
    """Add an audit entry to the session (the caller commits with its own change)."""
    if admin is None and has_request_context() and current_user.is_authenticated:
        admin = current_user._get_current_object()
    if admin_name is None:
        admin_name = (
            admin.name
            if admin is not None
            else ("" if has_request_context() else "cli")
        )
    values = dict(
        action=action,
        target=target,
        detail=detail,
        admin_id=admin.id if admin is not None else None,
        admin_name=admin_name,
        client_addr=client_address(),
    )
    entry = AuditLog(**fit_strings(AuditLog.__table__, values))
    db.session.add(entry)
    return entry


class FleetError(ValueError):
    """A change that cannot be made; its message says why, for the CLI and the UI."""


def atomic(change):
    """A change that is made whole or not at all: a refusal leaves no half-made row
    in the session for the next query to flush."""

    @functools.wraps(change)
    def run(*args, **kwargs):
        try:
            return change(*args, **kwargs)
        except FleetError:
            db.session.rollback()
            raise

    return run
