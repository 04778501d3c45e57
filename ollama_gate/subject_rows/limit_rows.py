"""The limits' per-subject settings: rate limit, quotas, models, scopes, concurrency.

A level of a call's chain that sets one of these bounds the call (the strictest
wins); ``limits/`` enforces them, level by level.
"""

from __future__ import annotations

import re

from limits import parse_many
from sqlalchemy import Integer, String, Text
from wtforms import (
    BooleanField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, NumberRange, Optional

from ..subject_row import MAX_COUNT, SettingRow, parse_count

UNLIMITED = ("unlimited", "none", "off")  # a rate limit meaning "no rate limit"
MANAGE = "manage"
SCOPES = (MANAGE,)  # every scope a key can hold; inference and model lists need none


def split_list(text: str | None) -> list[str]:
    """The non-empty entries of a comma, space or newline separated list."""
    return [part for part in re.split(r"[,\s]+", text or "") if part]


def check_rate_limit_spec(spec: str) -> str:
    """Check a subject's own limit (Flask-Limiter syntax or ``unlimited``);
    ValueError."""
    v = spec.strip()
    if v.lower() in UNLIMITED:
        return "unlimited"
    try:
        parse_many(v)
    except ValueError:
        raise ValueError(
            f"not a rate limit (e.g. 60/minute or 10/second;500/hour): {spec!r}"
        ) from None
    return v


def parse_models(text: str) -> str | None:
    """Model patterns, comma or newline separated, stored comma separated."""
    return ",".join(split_list(text)) or None


def parse_scopes(text: str) -> str:
    """Known scopes, stored sorted and comma separated; ``-``: none at all."""
    wanted = [s.lower() for s in split_list(text) if s not in ("-", "none")]
    unknown = sorted(set(wanted) - set(SCOPES))
    if unknown:
        raise ValueError(f"unknown scope {unknown[0]!r} (known: {', '.join(SCOPES)})")
    return ",".join(sorted(set(wanted)))


def patterns(value: str | None) -> tuple[str, ...] | None:
    """An allowlist as a level holds it: its patterns, or None (every model)."""
    found = tuple(split_list(value))
    return found or None


def scope_set(value: str | None) -> frozenset[str] | None:
    """Scopes as a level holds them; None: the level does not bound them."""
    return None if value is None else frozenset(split_list(value))


def count_field(row: SettingRow) -> IntegerField:
    """A count's form field: empty is no value."""
    return IntegerField(
        row.label,
        validators=[Optional(), NumberRange(min=0, max=MAX_COUNT)],
        render_kw={"min": 0, "max": MAX_COUNT, "placeholder": row.none},
    )


def rate_field(row: SettingRow) -> StringField:
    """The rate limit's form field."""
    return StringField(
        row.label,
        validators=[Optional(), Length(max=200)],
        render_kw={"placeholder": "default, e.g. 10/minute or 5/second;300/hour"},
    )


def models_field(row: SettingRow) -> TextAreaField:
    """The allowlist's form field."""
    return TextAreaField(
        row.label,
        validators=[Optional(), Length(max=4000)],
        render_kw={
            "rows": 2,
            "placeholder": "all models, or e.g. llama3*",
        },
    )


def manage_field(row: SettingRow) -> BooleanField:
    """The scopes' form field: the one scope there is."""
    return BooleanField(row.label)


# a user's or team's scopes: no bound (its keys' own), manage, or none at all
GROUP_SCOPES = {"": None, MANAGE: MANAGE, "-": ""}


def group_scopes_field(row: SettingRow) -> SelectField:
    """A user's or team's scopes: three choices, not a box (empty is no bound)."""
    return SelectField(
        "Scopes of its keys",
        choices=[
            SelectChoice("", "No bound: each key's own"),
            SelectChoice(MANAGE, "Keys may manage models (if the key has the scope)"),
            SelectChoice("-", "No key may manage models"),
        ],
        default="",
    )


def group_scopes_to_form(value: str | None) -> str:
    """Stored scopes -> the choice (None: no bound; "": none at all)."""
    if value is None:
        return ""
    return MANAGE if MANAGE in split_list(value) else "-"


def group_scopes_from_form(data: str | None) -> str | None:
    """The choice -> stored scopes; ValueError for an unknown one."""
    if (data or "") not in GROUP_SCOPES:
        raise ValueError(f"not a choice: {data!r}")
    return GROUP_SCOPES[data or ""]


def count(name: str, help: str, label: str, hint: str, none: str) -> SettingRow:
    """A count row (quotas, caps)."""
    return SettingRow(
        name=name,
        type=Integer,
        parse=parse_count,
        none=none,
        help=help,
        label=label,
        hint=hint,
        field=count_field,
    )


ROWS = [
    SettingRow(
        name="rate_limit",
        type=lambda: String(200),
        parse=check_rate_limit_spec,
        none="the global RATE_LIMIT for a key; none for a user or team",
        help="e.g. '10/minute' or '5/second;200/hour'; 'unlimited'; "
        "'default' (or 'none') removes it: a key then follows "
        "OLLAMA_GATE_RATE_LIMIT.",
        label="Rate limit",
        hint="E.g. 10/minute or 5/second;300/hour; unlimited for none.",
        field=rate_field,
        to_form=lambda v: v or "",
        from_form=lambda d: check_rate_limit_spec(d) if (d or "").strip() else None,
    ),
    count(
        "calls_per_day",
        "Inference calls per day ('none': no quota).",
        "Calls per day",
        "Per calendar day in the gateway's time zone. Empty: no limit.",
        "no limit",
    ),
    count(
        "tokens_per_day",
        "Token budget per day: prompt plus completion tokens ('none': no budget).",
        "Tokens per day",
        "Prompt + answer tokens per calendar day. Empty: no limit.",
        "no limit",
    ),
    count(
        "tokens_per_week",
        "Token budget per ISO week, Monday first ('none': no budget).",
        "Tokens per week",
        "Prompt + answer tokens per week (Monday to Sunday). Empty: no limit.",
        "no limit",
    ),
    count(
        "calls_per_month",
        "Inference calls per month ('none': no quota).",
        "Calls per month",
        "Per calendar month. Empty: no limit.",
        "no limit",
    ),
    count(
        "tokens_per_month",
        "Token budget per month ('none': no budget).",
        "Tokens per month",
        "Per calendar month. Empty: no limit.",
        "no limit",
    ),
    SettingRow(
        name="model_allowlist",
        type=Text,
        parse=parse_models,
        none="every model",
        help="Allowed model patterns, e.g. 'llama3*,qwen2.5:7b' ('none': all).",
        label="Allowed models",
        hint="Empty: every model. Patterns, comma or line separated; a name without "
        "a tag allows every tag; * matches anything. Model lists show only these.",
        option="--models",
        form_name="models",
        snap=patterns,
        show=lambda v: v or "all",
        field=models_field,
        to_form=lambda v: ", ".join(split_list(v)),
        from_form=lambda d: parse_models(d or ""),
    ),
    SettingRow(
        name="scopes",
        type=lambda: String(200),
        parse=parse_scopes,
        none="no scope for a key; no bound for a user or team",
        help=f"Extra scopes: {', '.join(SCOPES)} (pull, push, create, copy, "
        "delete, blobs); 'none' removes them; on a user or team they bound their "
        "keys' ('-': no scope at all).",
        label="May manage models (pull, push, create, copy, delete, blobs)",
        hint="Inference and model lists need no scope.",
        snap=scope_set,
        key_default="",
        form_name="manage",
        show=lambda v: v or "-",
        field=manage_field,
        to_form=lambda v: MANAGE in split_list(v),
        from_form=lambda d: MANAGE if d else "",
        group_form=(group_scopes_field, group_scopes_to_form, group_scopes_from_form),
    ),
    count(
        "max_concurrency",
        "Calls in flight at once ('none': no cap).",
        "Calls in flight at once",
        "Calls running at once. Empty: no cap.",
        "no cap",
    ),
]
