"""A key's settings in words, effective defaults filled in: for the key pages' hints
and the one-time page's summary."""

from __future__ import annotations

from flask import current_app

from ..keys import split_list
from ..limits.access import MANAGE
from ..models import ApiKey


def defaults() -> dict[str, str]:
    """What an empty field means, in the words of the form's hints."""
    gate = current_app.config["GATE"]
    return {
        "rate_limit": gate["RATE_LIMIT"] or "unlimited",
        "history_mode": gate["HISTORY_MODE"],
    }


def per_period(calls: int | None, tokens: int | None) -> str:
    """``1,000 calls, tokens unlimited`` or ``no limit``."""
    if calls is None and tokens is None:
        return "no limit"
    return ", ".join(
        f"{unit} unlimited" if value is None else f"{value:,} {unit}"
        for value, unit in ((calls, "calls"), (tokens, "tokens"))
    )


def key_summary(key: ApiKey) -> list[tuple[str, str]]:
    """(label, value) of every limit of ``key``, defaults named as such."""
    usual = defaults()
    models = split_list(key.model_allowlist)
    return [
        ("Rate limit", key.rate_limit or f"{usual['rate_limit']} (default)"),
        ("Per day", per_period(key.calls_per_day, key.tokens_per_day)),
        ("Per month", per_period(key.calls_per_month, key.tokens_per_month)),
        *(
            [("Per week", f"{key.tokens_per_week:,} tokens")]
            if key.tokens_per_week is not None
            else []
        ),
        *(
            [("Budgets", "shadow mode: recorded, not refused")]
            if key.budget_shadow
            else []
        ),
        ("Models", ", ".join(models) if models else "all models"),
        (
            "In flight",
            "no cap"
            if key.max_concurrency is None
            else f"{key.max_concurrency:,} calls at once",
        ),
        (
            "Scopes",
            "inference, model lists and model management"
            if MANAGE in split_list(key.scopes)
            else "inference and model lists",
        ),
        ("History", key.history_mode or f"{usual['history_mode']} (default)"),
        ("Expires", f"{key.expires_at:%Y-%m-%d}" if key.expires_at else "never"),
    ]
