"""Per-key quotas: calls and tokens per UTC day and month.

A call is counted when it is admitted (so N concurrent calls against a quota of N
calls let exactly N through). Against a token quota it holds an estimate of its
tokens from admission until its record (``reserve.tokens_to_hold``); the record then
swaps the hold for its real tokens (prompt plus completion, from Ollama's final
statistics, ``/v1`` or Anthropic usage) in one step. So calls in flight together
cannot spend more than the quota, except by what each uses beyond its own estimate,
and a call whose estimate does not fit waits (429) until the calls in flight settle.

Counters (``counters.py``): in one worker, a dict in memory, seeded from the database
the first time a key and period are seen; with ``REDIS_URL``, in Redis
(``redis_counters.py``), shared by every worker and host and changed only by atomic
scripts. The database row is the durable copy. Counters are kept under each level's
``Subject.ref`` (a key's is its ``limits_id``: every rotation of a key counts on the
same ones; a team's is one pool for all its members' keys). A call is counted at
every level of its chain that has a quota; the strictest refuses.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime

from ..call import Call
from ..errors import ApiError
from ..extensions import db
from ..models import utcnow
from ..subjects import Subject, levels_of
from .access import _normal_path
from .counters import Check
from .reserve import tokens_to_hold
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
HELD = "limits.held"  # call.extra: the token of the tokens the call holds, if any


def checks_for(settings, when: datetime) -> list[Check]:
    """The quotas that apply at ``when`` of an identity or a level (anything with
    ``calls_per_day``... or a ``get``): one check per period with a quota."""
    get = settings.get if hasattr(settings, "get") else settings.__getattribute__
    checks = []
    for period, calls, tokens in (
        (day_period(when), get("calls_per_day"), get("tokens_per_day")),
        (month_period(when), get("calls_per_month"), get("tokens_per_month")),
    ):
        if calls is not None or tokens is not None:
            checks.append((period, calls, tokens))
    return checks


class Quotas:
    """The quota admission check and the recorder hook that feeds it."""

    def __init__(self, counters, default_hold: int = 256):
        self.counters = counters
        self.default_hold = default_hold  # completion tokens of a call that names none

    def __call__(self, call: Call) -> None:
        """Admission check: count an inference call at every level of its chain with
        a quota (a team's is one pool for its members), or 429 naming the level
        whose quota is used up; a refusal at one level uncounts it at the others."""
        # "/api/generate/" is forwarded as sent: a server or proxy there may treat it
        # as "/api/generate", so it is counted as one (the exact match stays first)
        endpoint = call.endpoint
        if endpoint not in INFERENCE and _normal_path(endpoint) not in INFERENCE:
            return
        admitted: list[tuple[str, tuple[str, ...], str | None]] = []
        hold = None
        try:
            for level in levels_of(call):
                checks = checks_for(level, call.started_at)
                if not checks:
                    continue
                if hold is None:
                    wants = any(tokens is not None for _, _, tokens in checks)
                    hold = tokens_to_hold(call, self.default_hold) if wants else None
                ref = level.subject.ref
                refused, held = self.counters.admit(ref, checks, hold or 0)
                if refused is not None:
                    raise refusal(checks[refused[0]], *refused[1:], level.subject)
                admitted.append((ref, tuple(p for p, _, _ in checks), held))
        except BaseException:
            self._undo(admitted)
            raise
        if admitted:
            call.extra[COUNTED] = {
                (r, p) for r, periods, _ in admitted for p in periods
            }
            holds = [(r, held) for r, _, held in admitted if held is not None]
            if holds:
                call.extra[HELD] = holds
        call.extra[USAGE] = True

    def _undo(self, admitted: list[tuple[str, tuple[str, ...], str | None]]) -> None:
        """Uncount a refused call at the levels that had counted it."""
        for ref, periods, held in admitted:
            try:
                self.counters.cancel(ref, periods, held)
            except Exception:  # storage gone: the holds end by their lease
                break

    def record(self, calls: list[Call]) -> None:
        """Recorder hook: add finished calls and their tokens to the database and the
        counters of every level of their chains, and settle the tokens they held."""
        totals: dict[tuple[int, str], tuple[int, int]] = {}  # per key: the database
        live: dict[tuple[str, str], list[int]] = {}  # per subject ref: the counters
        holds: list[tuple[str, str]] = []
        for call in calls:
            holds.extend(call.extra.pop(HELD, ()))
            if not call.extra.get(USAGE):
                continue
            tokens = (
                0
                if not call.charge_tokens
                else int(call.stats.get("total_tokens") or 0)
            )
            counted = call.extra.get(COUNTED, ())
            refs = [level.subject.ref for level in levels_of(call)]
            for period in (day_period(call.started_at), month_period(call.started_at)):
                row = (call.identity.key_id, period)
                calls_so_far, tokens_so_far = totals.get(row, (0, 0))
                totals[row] = (calls_so_far + 1, tokens_so_far + tokens)
                for ref in refs:  # only counters seeded already take it
                    entry = live.setdefault((ref, period), [0, 0])
                    entry[0] += (ref, period) not in counted
                    entry[1] += tokens
        try:
            if totals:
                add_usage(totals)
        finally:  # the holds go even when the database is gone, or the key locks up
            if live or holds:
                now = utcnow()
                self.counters.add(
                    [(k, p, c, t) for (k, p), (c, t) in live.items()],
                    keep={day_period(now), month_period(now)},
                    holds=holds,
                )


KEY = Subject("key", 0, "")  # a refusal's subject when none is named: the key
NAMES = {
    ("d", "calls"): "daily call",
    ("d", "tokens"): "daily token",
    ("m", "calls"): "monthly call",
    ("m", "tokens"): "monthly token",
}


def refusal(check: Check, kind: str, used: int, subject=KEY) -> ApiError:
    """The 429 for a used-up quota: which one, how much is used, when it resets;
    or for tokens held by calls in flight: retry when they end."""
    period, calls, tokens = check
    if kind == "held":
        return held_refusal(period, tokens, used, subject)
    quota = calls if kind == "calls" else tokens
    reset = period_reset(period)
    wait = max(1, math.ceil((reset - utcnow()).total_seconds()))
    epoch = math.ceil((reset - datetime(1970, 1, 1)).total_seconds())
    message = (
        f"{NAMES[(period[0], kind)]} quota of {subject.phrase} is used up "
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


HELD_RETRY = 2  # seconds: calls in flight settle within their answer and a record


def held_refusal(period: str, quota: int, used: int, subject=KEY) -> ApiError:
    """The 429 for a call whose token estimate does not fit what calls in flight of
    the key (or its user or team) leave of a token quota: it may fit once they end."""
    return ApiError(
        429,
        f"{NAMES[(period[0], 'tokens')]} quota of {subject.phrase} is held by its "
        f"calls in flight ({used} of {quota} tokens used or held, more than this "
        f"call's estimate left); retry when they end",
        {
            "Retry-After": str(HELD_RETRY),
            "X-RateLimit-Limit": str(quota),
            "X-RateLimit-Remaining": str(max(0, quota - used)),
        },
    )


def usage_loader(app) -> Callable[[int, str], tuple[int, int]]:
    """``load_usage`` in an app context, releasing the connection at once (hot path)."""

    def load(ref: str, period: str) -> tuple[int, int]:
        with app.app_context():
            try:
                return load_usage(ref, period)
            finally:
                db.session.remove()

    return load
