"""Per-key quotas: calls and tokens per UTC day and month.

A call is counted when it is admitted (so N concurrent calls against a quota of N
calls let exactly N through); its tokens (prompt plus completion, from Ollama's final
statistics or ``/v1`` usage) are added after its last byte by the recorder hook. A
token quota is checked before each call, so the call that crosses it still completes.

The counters the checks read are ``counters.py``'s (memory, or Redis); the database
row is the durable copy.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime

from ..call import Call
from ..errors import ApiError
from ..extensions import db
from ..models import utcnow
from .access import _normal_path
from .counters import Check
from .usage import add_usage, day_period, load_usage, month_period, period_reset

# Endpoints that run a model: their calls and tokens count against quotas.
INFERENCE = frozenset(
    {
        "/api/generate",
        "/api/chat",
        "/api/embed",
        "/api/embeddings",
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/responses",
        "/v1/messages",
    }
)
USAGE = "limits.usage"  # call.extra: admitted inference call, to be counted
COUNTED = (
    "limits.counted"  # call.extra: periods whose call counter admission already raised
)
# call.extra: the call ran no model (a cache hit the settings do not charge): it
# counts as a call, its tokens count against no token quota
UNCHARGED_TOKENS = "limits.uncharged_tokens"


def checks_for(identity, when: datetime) -> list[Check]:
    """The quotas of a key that apply at ``when``: one check per period with a quota."""
    checks = []
    if identity.calls_per_day is not None or identity.tokens_per_day is not None:
        checks.append(
            (day_period(when), identity.calls_per_day, identity.tokens_per_day)
        )
    if identity.calls_per_month is not None or identity.tokens_per_month is not None:
        checks.append(
            (month_period(when), identity.calls_per_month, identity.tokens_per_month)
        )
    return checks


class Quotas:
    """The quota admission check and the recorder hook that feeds it."""

    def __init__(self, counters):
        self.counters = counters

    def __call__(self, call: Call) -> None:
        """Admission check: count an inference call, or 429 if a quota is used up."""
        # "/api/generate/" is forwarded as sent: a server or proxy there may treat it
        # as "/api/generate", so it is counted as one (the exact match stays first)
        endpoint = call.endpoint
        if endpoint not in INFERENCE and _normal_path(endpoint) not in INFERENCE:
            return
        checks = checks_for(call.identity, call.started_at)
        if checks:
            refused = self.counters.admit(call.identity.key_id, checks)
            if refused is not None:
                raise refusal(checks[refused[0]], refused[1], refused[2])
            call.extra[COUNTED] = tuple(period for period, _, _ in checks)
        call.extra[USAGE] = True

    def record(self, calls: list[Call]) -> None:
        """Recorder hook: add finished calls and their tokens to the counters."""
        totals: dict[tuple[int, str], tuple[int, int]] = {}
        uncounted: dict[tuple[int, str], int] = {}
        for call in calls:
            if not call.extra.get(USAGE):
                continue
            tokens = (
                0
                if call.extra.get(UNCHARGED_TOKENS)
                else int(call.stats.get("total_tokens") or 0)
            )
            counted = call.extra.get(COUNTED, ())
            for period in (day_period(call.started_at), month_period(call.started_at)):
                slot = (call.identity.key_id, period)
                calls_so_far, tokens_so_far = totals.get(slot, (0, 0))
                totals[slot] = (calls_so_far + 1, tokens_so_far + tokens)
                uncounted[slot] = uncounted.get(slot, 0) + (period not in counted)
        if not totals:
            return
        add_usage(totals)
        now = utcnow()
        self.counters.add(
            [(k, p, uncounted[(k, p)], t) for (k, p), (_, t) in totals.items()],
            keep={day_period(now), month_period(now)},
        )


NAMES = {
    ("d", "calls"): "daily call",
    ("d", "tokens"): "daily token",
    ("m", "calls"): "monthly call",
    ("m", "tokens"): "monthly token",
}


def refusal(check: Check, kind: str, used: int) -> ApiError:
    """The 429 for a used-up quota: which one, how much is used, when it resets."""
    period, calls, tokens = check
    quota = calls if kind == "calls" else tokens
    reset = period_reset(period)
    wait = max(1, math.ceil((reset - utcnow()).total_seconds()))
    epoch = math.ceil((reset - datetime(1970, 1, 1)).total_seconds())
    message = (
        f"{NAMES[(period[0], kind)]} quota of this API key is used up "
        f"({used} of {quota} {kind}); it resets at {reset:%Y-%m-%d %H:%M} UTC"
    )
    return ApiError(
        429,
        message,
        {
            "Retry-After": str(wait),
            "X-RateLimit-Limit": str(quota),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(epoch),
            "x-should-retry": "false",  # a resend cannot succeed before the reset
        },
    )


def usage_loader(app) -> Callable[[int, str], tuple[int, int]]:
    """``load_usage`` in an app context, releasing the connection at once (hot path)."""

    def load(key_id: int, period: str) -> tuple[int, int]:
        with app.app_context():
            try:
                return load_usage(key_id, period)
            finally:
                db.session.remove()

    return load
