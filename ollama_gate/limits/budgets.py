"""Token budgets' soft side: the warning share, exhaustion and shadow mode.

A budget is a token quota of a period (``tokens_per_day``, ``_week``, ``_month``) at
one level of a call's chain. When a record moves a budget's counter across its
warning share (the level's ``budget_warn_percent``, else
``OLLAMA_GATE_BUDGET_WARN_PERCENT``) or across the budget itself, a
``budget.threshold`` or ``budget.exhausted`` event is raised (``notices.py``). The
counters say each counter's tokens before and after each add, and those steps are
atomic (Redis scripts, or the lock in memory), so of all the workers recording on
one budget exactly one sees it cross a mark: one event per budget and period.

A level in shadow mode (``budget_shadow``) has its budgets checked but not
enforced: a call past one goes through, its history row's statistics name the
budgets it would have been refused by (``budget_shadow``), and a ``budget.shadow``
event is raised once per subject and period.
"""

from __future__ import annotations

import math
from typing import Any

from .counters import Check, Moved
from .notices import notify
from .periods import ADJECTIVE, reset_text

SHADOW = "limits.shadow"  # call.extra: the budgets it passed in shadow mode
BUDGET_OF = {"d": "tokens_per_day", "w": "tokens_per_week", "m": "tokens_per_month"}
# (ref, period) -> (subject, budget, warning mark in tokens or None)
Marks = dict[tuple[str, str], tuple[Any, int, int | None]]


def name_of(subject: Any, period: str) -> str:
    """``team 'ml' weekly token budget``, ``this API key's daily token budget``."""
    own = "this API key's" if subject.kind == "key" else subject.phrase
    return f"{own} {ADJECTIVE[period[0]]} token budget"


def mark(marks: Marks, level: Any, kind: str, period: str, default_warn: int) -> None:
    """Note the budget a record spends on at ``level`` in ``period``, if any."""
    key = (level.subject.ref, period)
    if key in marks:
        return
    budget = level.get(BUDGET_OF[kind])
    if budget is None:
        return
    warn = level.get("budget_warn_percent")
    warn = default_warn if warn is None else warn
    at = math.ceil(budget * warn / 100) if warn else None
    marks[key] = (level.subject, budget, at)


def notice_moves(moved: list[Moved] | tuple, marks: Marks) -> None:
    """Raise the events of the budgets a record moved across a mark."""
    for ref, period, before, after in moved:
        found = marks.get((ref, period))
        if found is None:
            continue
        subject, budget, at = found
        data = {
            "subject": {"kind": subject.kind, "id": subject.id, "name": subject.name},
            "period": period,
            "budget": budget,
            "used": after,
            "resets_at": reset_text(period),
        }
        name = name_of(subject, period)
        if at is not None and before < at <= after and at < budget:
            notify(
                "budget.threshold",
                subject,
                f"{name} is {100 * after // max(budget, 1)}% used ({after} of "
                f"{budget} tokens); it resets at {reset_text(period)}",
                {**data, "warn_at": at},
                period,
            )
        if before < budget <= after:
            notify(
                "budget.exhausted",
                subject,
                f"{name} is used up ({after} of {budget} tokens); "
                f"it resets at {reset_text(period)}",
                data,
                period,
            )


def shadow_check(counters: Any, level: Any, checks: list[Check], call: Any) -> None:
    """A level in shadow mode admitted ``call``: note each budget the call is past
    (it would have been refused) and raise ``budget.shadow`` once per period."""
    ref = level.subject.ref
    for period, _, budget in checks:
        if budget is None:
            continue
        used = counters.current(ref, period)
        if used is None or used[1] < budget:
            continue
        name = name_of(level.subject, period)
        call.extra.setdefault(SHADOW, []).append(name)
        notify(
            "budget.shadow",
            level.subject,
            f"{name} is used up ({used[1]} of {budget} tokens) but in shadow mode: "
            f"calls go through until it resets at {reset_text(period)}",
            {
                "subject": {
                    "kind": level.subject.kind,
                    "id": level.subject.id,
                    "name": level.subject.name,
                },
                "period": period,
                "budget": budget,
                "used": used[1],
            },
            period,
        )


def shadow_texts(call: Any) -> list[str]:
    """The budgets a call went past in shadow mode (empty: none)."""
    return list(call.extra.get(SHADOW, ()))
