"""The limits' settings rows (see ``ollama_gate/settings.py``)."""

from __future__ import annotations

from limits import parse_many

from ..settings import Row
from ..subject_rows.budget_rows import parse_percent
from .periods import parse_timezone


def parse_rate_limit(value: str) -> str:
    """Check a rate limit in Flask-Limiter's syntax (``60/minute;5/second``); empty =
    none."""
    v = value.strip()
    if v:
        try:
            parse_many(v)
        except ValueError:
            raise ValueError(f"not a rate limit (e.g. 60/minute): {value!r}") from None
    return v


def parse_rate_strategy(value: str) -> str:
    """Parse a rate limiting strategy of the ``limits`` library."""
    v = value.strip().lower()
    if v not in ("moving-window", "fixed-window", "sliding-window-counter"):
        raise ValueError(
            f"not a strategy (moving-window, fixed-window, "
            f"sliding-window-counter): {value!r}"
        )
    return v


def parse_token_count(value: str) -> int:
    """Parse a number of tokens, 0 or more."""
    n = int(value.strip())
    if n < 0:
        raise ValueError(f"not a number of tokens (0 or more): {value!r}")
    return n


def parse_lease(value: str) -> float:
    """Parse a lease in seconds: at least one (it is renewed every quarter of it)."""
    seconds = float(value)
    if seconds < 1:
        raise ValueError(f"a lease is at least 1 second: {value!r}")
    return seconds


ROWS: list[Row] = [
    (
        "RATE_LIMIT",
        parse_rate_limit,
        "600/minute",
        "Calls per key for keys without their own limit (`60/minute`, `;` joins "
        "several; empty: none).",
    ),
    (
        "RATE_LIMIT_STRATEGY",
        parse_rate_strategy,
        "moving-window",
        "How rate limits count: `moving-window` (exact), `fixed-window` or "
        "`sliding-window-counter`.",
    ),
    (
        "TOKEN_RESERVE",
        parse_token_count,
        "256",
        "Answer tokens a call holds against its key's token quota while it runs, "
        "when its request sets no bound (`num_predict`, `max_tokens`).",
    ),
    (
        "TIMEZONE",
        parse_timezone,
        "UTC",
        "IANA time zone (`Europe/Paris`) of the calendar days, weeks (Monday "
        "first) and months of quotas and budgets; a change starts new periods.",
    ),
    (
        "BUDGET_WARN_PERCENT",
        parse_percent,
        "80",
        "Share of a token budget whose use raises a `budget.threshold` event, for "
        "subjects that set no `budget_warn_percent`; 0: none.",
    ),
    (
        "REDIS_URL",
        str,
        "",
        "Redis shared by every worker and host for limits, quotas and concurrency; "
        "empty: in-process (one worker only).",
    ),
    (
        "REDIS_MAX_CONNECTIONS",
        int,
        "64",
        "Redis connections per worker; calls beyond wait for one instead of "
        "opening more.",
    ),
    (
        "SLOT_LEASE_SECONDS",
        parse_lease,
        "60",
        "Seconds a slot in Redis (a key's concurrency, a backend's or model's calls "
        "in flight) outlives its worker: the worker renews it while the call runs.",
    ),
    (
        "REDIS_PREFIX",
        str,
        "ollama-gate",
        "Prefix of the gateway's keys in Redis (gateways sharing one Redis use "
        "different ones).",
    ),
]
