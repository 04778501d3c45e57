"""Saving a user's or team's own settings form: one way for both pages."""

from __future__ import annotations

from typing import Any

from flask import flash

from ..audit import record
from ..extensions import db
from ..subject_settings import apply_form, diff, snapshot
from .users import forget_cached_keys


def save_settings(form: Any, row: Any, kind: str, action: str, saved: str) -> None:
    """Store ``form``'s settings on ``row`` (a user or team), audit what changed
    (``field: before → after``) and let every worker's key cache see it."""
    before = snapshot(row, kind)
    apply_form(form, row, kind)
    changes = diff(before, row, kind)
    if not changes:
        flash("Nothing to change.", "info")
        return
    record(action, row.name, ", ".join(changes))
    db.session.commit()
    forget_cached_keys()  # the keys' cached chains hold the old settings
    flash(saved, "success")
