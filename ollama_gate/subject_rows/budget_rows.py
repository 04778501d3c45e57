"""The budgets' per-subject settings: when to warn, and shadow mode.

The budgets themselves are the token quotas (``tokens_per_day``, ``_week``,
``_month`` in ``limit_rows``); these say how a subject's budgets behave.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Integer
from wtforms import BooleanField

from ..subject_row import SettingRow, parse_count
from .limit_rows import count_field

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")


def parse_percent(text: str) -> int:
    """A percentage from 0 to 100."""
    n = parse_count(text)
    if n > 100:
        raise ValueError("must be at most 100")
    return n


def parse_on(text: str) -> bool | None:
    """``on`` -> True; ``off`` -> None (unset: the subject enforces its budgets)."""
    word = str(text).strip().lower()
    if word in TRUE:
        return True
    if word in FALSE:
        return None
    raise ValueError(f"{text!r} is not on or off")


def shadow_field(row: SettingRow) -> BooleanField:
    """The shadow mode's form field."""
    return BooleanField(row.label)


ROWS = [
    SettingRow(
        name="budget_warn_percent",
        type=Integer,
        parse=parse_percent,
        none="the gateway's default",
        help="Share of each token budget whose use raises a budget.threshold event, "
        "e.g. 80; 0: no warning ('none': OLLAMA_GATE_BUDGET_WARN_PERCENT).",
        label="Warn at % of a budget",
        hint="An event when this share of a token budget is used. Empty: the "
        "gateway's default (80% unless the settings say otherwise); 0: none.",
        field=count_field,
    ),
    SettingRow(
        name="budget_shadow",
        type=Boolean,
        parse=parse_on,
        none="off: its token budgets refuse calls past them",
        help="'on': its token budgets refuse nothing; calls past them go through "
        "and are recorded as would-have-been-refused ('off': enforced).",
        label="Shadow mode: budgets record, do not refuse",
        hint="Try a budget before enforcing it: calls past it go through and are "
        "marked in history.",
        option="--budget-shadow",
        show=lambda v: "on" if v else "off",
        field=shadow_field,
        to_form=bool,
        from_form=lambda d: True if d else None,
    ),
]
