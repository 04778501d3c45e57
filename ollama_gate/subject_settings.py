"""The one table of per-subject settings, and everything made from it.

``TABLE`` joins the rows each package declares (``subject_rows/``), as
``config.SETTINGS`` joins the gateway's settings. From it come the columns of
``api_keys``, ``users`` and ``teams`` (``columns_mixin``), the click options of
``keys create|set``, ``users create|set`` and ``teams create|set`` (``options``),
the admin form fields (``form_fields``), the audit before/after (``snapshot``,
``diff``), a rotation's copy (``COPIED``) and the ``describe`` lines.

To add a setting: one ``SettingRow`` in its package's ``subject_rows`` module, and
one Alembic migration adding its column to the tables of the kinds it applies to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from sqlalchemy.orm import mapped_column

from .subject_row import SettingRow
from .subject_rows import budget_rows, history_rows, limit_rows, portal_rows, queue_rows

# the order is the audit log's and the option list's
TABLE: list[SettingRow] = [
    *history_rows.ROWS,
    *limit_rows.ROWS,
    *budget_rows.ROWS,
    *queue_rows.ROWS,
    *portal_rows.ROWS,  # team-only: the portal's policy
]
BY_NAME = {row.name: row for row in TABLE}


def rows_for(kind: str) -> list[SettingRow]:
    """The rows that apply to subjects of ``kind``."""
    return [row for row in TABLE if kind in row.kinds]


def columns_mixin(kind: str) -> type:
    """A declarative mixin with one column per row of ``kind`` (models.py)."""

    attrs: dict[str, Any] = {
        row.name: mapped_column(
            row.type(), default=row.unset(kind), nullable=row.unset(kind) is None
        )
        for row in rows_for(kind)
    }
    attrs["__doc__"] = f"The per-subject settings columns of a {kind}."
    return type(f"{kind.title()}SettingsColumns", (), attrs)


def options(kind: str) -> Callable[[Callable], Callable]:
    """A decorator adding the option of each row of ``kind`` to a click command;
    each arrives under its column name as text, None when not given."""

    def add(command: Callable) -> Callable:
        for row in reversed(rows_for(kind)):
            command = click.option(
                row.cli_option, row.name, default=None, help=row.help
            )(command)
        return command

    return add


def apply_options(subject: Any, kind: str, values: dict[str, Any]) -> None:
    """Set the given options' values on ``subject`` (None: leave as is); click's
    BadParameter naming the option on bad text."""
    for row in rows_for(kind):
        text = values.get(row.name)
        if text is None:
            continue
        try:
            setattr(subject, row.name, row.read(text, kind))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint=row.cli_option) from None


def form_fields(kind: str) -> type:
    """A mixin of one WTForms field per row of ``kind`` (``row.form_field``), each
    with its row's check (``validate_<field>``)."""
    attrs: dict[str, Any] = {}
    for row in rows_for(kind):
        make = row.form_parts(kind)[0]
        attrs[row.form_field] = make(row) if make else _text_field(row)
        attrs[f"validate_{row.form_field}"] = _validator(row, kind)
    attrs["__doc__"] = f"The per-subject settings fields of a {kind}."
    return type(f"{kind.title()}SettingsFields", (), attrs)


def _text_field(row: SettingRow):
    from wtforms import StringField
    from wtforms.validators import Optional

    return StringField(row.label, validators=[Optional()])


def _validator(row: SettingRow, kind: str) -> Callable:
    def validate(form, field) -> None:
        from wtforms.validators import ValidationError

        try:
            _from_form(row, field.data, kind)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None

    validate.__doc__ = f"The {row.name} row's own check."
    return validate


def _from_form(row: SettingRow, data: Any, kind: str) -> Any:
    from_form = row.form_parts(kind)[2]
    if from_form is not None:
        return from_form(data)
    if data is None or data == "":
        return None
    return row.parse(str(data))


def fill_form(form: Any, subject: Any, kind: str) -> None:
    """Show ``subject``'s settings in the form."""
    for row in rows_for(kind):
        to_form = row.form_parts(kind)[1]
        getattr(form, row.form_field).data = to_form(getattr(subject, row.name))


def apply_form(form: Any, subject: Any, kind: str) -> None:
    """Store a validated form's settings on ``subject``."""
    for row in rows_for(kind):
        value = _from_form(row, getattr(form, row.form_field).data, kind)
        setattr(subject, row.name, row.unset(kind) if value is None else value)


def snapshot(subject: Any, kind: str) -> dict[str, Any]:
    """The subject's settings now (for ``diff``)."""
    return {row.name: getattr(subject, row.name) for row in rows_for(kind)}


def shown(value: Any) -> str:
    """A setting's value in the audit log (empty: ``none``)."""
    if value is None or value == "":
        return "none"
    if hasattr(value, "strftime"):
        return f"{value:%Y-%m-%d}"
    return repr(value) if isinstance(value, str) and " " in value else str(value)


def diff(before: dict[str, Any], subject: Any, kind: str) -> list[str]:
    """``label: before → after`` for each setting that changed."""
    after = snapshot(subject, kind)
    return [
        f"{row.audit_label}: {_shown(row, kind, before[row.name])} → "
        f"{_shown(row, kind, after[row.name])}"
        for row in rows_for(kind)
        if before[row.name] != after[row.name]
    ]


def _shown(row: SettingRow, kind: str, value: Any) -> str:
    # where unset is None, an empty value is a setting of its own (a team's scopes
    # "": no scope at all), so it must not read "none" as unset does
    if value == "" and row.unset(kind) is None:
        return "-"
    return shown(value)


COPIED = tuple(row.name for row in rows_for("key") if row.copied)


def describe(subject: Any, kind: str) -> list[str]:
    """``label: value`` of each setting the subject sets."""
    lines = []
    for row in rows_for(kind):
        value = getattr(subject, row.name)
        if value is not None and value != row.unset(kind):
            lines.append(f"{row.audit_label.replace('_', ' ')}: {row.show(value)}")
    return lines
