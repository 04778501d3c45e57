"""The limits in the admin UI: the key form's fields, and each key's usage vs quotas.

``LimitFields`` is mixed into the admin ``KeyForm``: one field per per-key setting,
made from ``subject_settings.TABLE``; ``templates/admin/_key_settings.html`` renders
them, and ``templates/admin/_key_usage.html`` the usage (``key_limits``).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app

from ..keys import split_list
from ..models import ApiKey
from ..subject_settings import apply_form, describe, fill_form, form_fields, rows_for
from .access import MANAGE

# every per-key setting's field (limits, queue weight, history mode)
LimitFields = form_fields("key")


def fill_limit_fields(form: Any, key: ApiKey) -> None:
    """Show a key's current settings in the form."""
    fill_form(form, key, "key")


def apply_limit_form(form: Any, key: ApiKey) -> None:
    """Store the form's settings on ``key`` (what changed is ``changes.diff``'s to
    say, from the one table of subject settings)."""
    apply_form(form, key, "key")


def key_limits(key: ApiKey) -> dict[str, Any] | None:
    """A key's effective limits and its usage against each quota, for the key page."""
    state = current_app.extensions.get("ollama_gate_limits")
    if state is None:
        return None
    default = current_app.config["GATE"]["RATE_LIMIT"] or "unlimited"
    return {
        "rate": key.rate_limit or f"{default} (global default)",
        "manage": MANAGE in split_list(key.scopes),
        "rows": state.report(key),
        "shared": state.shared,
        "zone": state.quotas.zone,
    }


def subject_limits(kind: str, subject: Any) -> list[dict[str, Any]] | None:
    """A user's or team's usage against its own quotas (a team's: one pool for all
    its members' keys), for its admin page; None without the limits stage."""
    state = current_app.extensions.get("ollama_gate_limits")
    if state is None:
        return None
    return state.usage_report(f"{kind}:{subject.id}", subject)


def key_setting_rows() -> list:
    """The per-key setting rows, for the fields the key form does not place itself."""
    return rows_for("key")


def init_app(app: Flask) -> None:
    """Make ``key_limits``, ``key_setting_rows``, ``subject_limits`` and the
    subject settings rows (``subject_setting_rows``, ``subject_describe``) available
    to the admin templates."""
    app.add_template_global(key_limits, "key_limits")
    app.add_template_global(key_setting_rows, "key_setting_rows")
    app.add_template_global(subject_limits, "subject_limits")
    app.add_template_global(rows_for, "subject_setting_rows")
    app.add_template_global(describe, "subject_describe")
