"""A key's own limits and its use against each quota, for the key holder."""

from __future__ import annotations

from typing import Any

from flask import current_app

from ..keys import split_list
from ..models import ApiKey


def left(used: int, quota: int | None) -> int | None:
    """What remains of a quota (None: no quota)."""
    return None if quota is None else max(quota - used, 0)


def usage_report(key: ApiKey) -> dict[str, Any]:
    """The key, its limits (defaults filled in) and its use today, this week and
    this month (calendar periods in ``OLLAMA_GATE_TIMEZONE``)."""
    gate = current_app.config["GATE"]
    periods = {}
    names = {"d": "day", "w": "week", "m": "month"}
    for row in current_app.extensions["ollama_gate_limits"].report(key):
        periods[names[row["period"][0]]] = {
            "period": row["period"][2:].partition("@")[0],
            "calls": row["calls"],
            "tokens": row["tokens"],
            "calls_quota": row["calls_quota"],
            "tokens_quota": row["tokens_quota"],
            "calls_left": left(row["calls"], row["calls_quota"]),
            "tokens_left": left(row["tokens"], row["tokens_quota"]),
            # with the zone's offset; in UTC with "Z", as before time zones
            "resets_at": row["resets"].isoformat().replace("+00:00", "Z"),
            "budget_shadow": row["shadow"],
        }
    return {
        "key": {
            "prefix": key.prefix,
            "name": key.name,
            "user": key.user.name,
            "state": key.state(),
            "expires_at": iso(key.expires_at),
            "revoke_at": iso(key.revoke_at),
        },
        "limits": {
            "rate_limit": key.rate_limit or gate["RATE_LIMIT"] or "unlimited",
            "rate_limit_is_default": key.rate_limit is None,
            "models": split_list(key.model_allowlist) or None,  # None: every model
            "scopes": split_list(key.scopes),
            "max_concurrency": key.max_concurrency,
            "history": key.history_mode or gate["HISTORY_MODE"],
        },
        "usage": periods,
        "timezone": gate.get("TIMEZONE") or "UTC",
    }


def iso(value) -> str | None:
    """A stored UTC time in ISO form with ``Z``, or None."""
    return value.isoformat() + "Z" if value else None
