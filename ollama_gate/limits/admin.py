"""The limits in the admin UI: the key form's fields, and each key's usage vs quotas.

``LimitFields`` is mixed into the admin ``KeyForm``;
``templates/admin/_key_settings.html`` renders the fields, and
``templates/admin/_key_usage.html`` the usage (``key_limits``).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app
from wtforms import BooleanField, IntegerField, StringField, TextAreaField
from wtforms.validators import Length, NumberRange, Optional, ValidationError

from ..keys import split_list
from ..models import ApiKey
from .access import MANAGE
from .cli import INT_COLUMNS, MAX_COUNT
from .rates import check_rate_limit_spec


def _count(label: str) -> IntegerField:
    return IntegerField(
        label,
        validators=[Optional(), NumberRange(min=0, max=MAX_COUNT)],
        render_kw={"min": 0, "max": MAX_COUNT, "placeholder": "no limit"},
    )


class LimitFields:
    """Per-key limit fields, mixed into a FlaskForm; empty: no limit of that kind."""

    rate_limit = StringField(
        "Rate limit",
        validators=[Optional(), Length(max=200)],
        render_kw={
            "placeholder": "global default, e.g. 10/minute or 5/second;300/hour"
        },
    )
    calls_per_day = _count("Calls per day")
    tokens_per_day = _count("Tokens per day")
    calls_per_month = _count("Calls per month")
    tokens_per_month = _count("Tokens per month")
    models = TextAreaField(
        "Allowed models",
        validators=[Optional(), Length(max=4000)],
        render_kw={
            "rows": 2,
            "placeholder": "all models, or e.g. llama3*",
        },
    )
    manage = BooleanField("May manage models (pull, push, create, copy, delete, blobs)")
    max_concurrency = _count("Calls in flight at once")
    queue_weight = _count("Queue weight")

    def validate_rate_limit(self, field: StringField) -> None:
        """Flask-Limiter syntax, or ``unlimited``."""
        if field.data and field.data.strip():
            try:
                check_rate_limit_spec(field.data)
            except ValueError:
                raise ValidationError(
                    "Use e.g. 60/minute, 5/second;300/hour, or unlimited."
                ) from None


def fill_limit_fields(form: Any, key: ApiKey) -> None:
    """Show a key's current limits in the form."""
    form.rate_limit.data = key.rate_limit or ""
    for column in INT_COLUMNS:
        getattr(form, column).data = getattr(key, column)
    form.models.data = ", ".join(split_list(key.model_allowlist))
    form.manage.data = MANAGE in split_list(key.scopes)


def apply_limit_form(form: Any, key: ApiKey) -> None:
    """Store the form's limits on ``key`` (what changed is ``changes.diff``'s to say,
    from the one list of key settings)."""
    rate = (form.rate_limit.data or "").strip()
    values: dict[str, Any] = {
        "rate_limit": check_rate_limit_spec(rate) if rate else None,
        **{column: getattr(form, column).data for column in INT_COLUMNS},
        "model_allowlist": ",".join(split_list(form.models.data)) or None,
        "scopes": MANAGE if form.manage.data else "",
    }
    for column, value in values.items():
        setattr(key, column, value)


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
    }


def init_app(app: Flask) -> None:
    """Make ``key_limits`` available to the admin templates."""
    app.add_template_global(key_limits, "key_limits")
