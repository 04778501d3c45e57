"""Quotas and budgets: calls per day and month, and token budgets per day, ISO week
and month, calendar periods in ``OLLAMA_GATE_TIMEZONE`` (``periods.py``); the token
quotas are the budgets (``budgets.py``: shadow mode and their events).

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
from datetime import UTC, datetime

from ..call import Call
from ..errors import ApiError
from ..extensions import db
from ..models import utcnow
from ..subjects import Subject, levels_of
from ..turns import in_turns
from .access import _normal_path
from .budgets import Marks, mark, name_of, notice_moves, shadow_check, shadow_texts
from .counters import Check
from .periods import ADJECTIVE, local_reset, periods_at, reset_text
from .reserve import tokens_to_hold
from .usage import add_usage, load_usage

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


def checks_for(settings, when: datetime, zone: str = "UTC") -> list[Check]:
    """The quotas and budgets that apply at ``when`` (naive UTC) in ``zone`` of an
    identity or a level (anything with ``calls_per_day``... or a ``get``): one
    check per period with a quota or budget."""
    return checks_in(settings, periods_at(when, zone))


def checks_in(settings, periods: dict[str, str]) -> list[Check]:
    """The checks of ``settings`` in the given day, week and month."""
    get = settings.get if hasattr(settings, "get") else _getter(settings)
    checks = []
    for period, calls, tokens in (
        (periods["d"], get("calls_per_day"), get("tokens_per_day")),
        (periods["w"], None, get("tokens_per_week")),
        (periods["m"], get("calls_per_month"), get("tokens_per_month")),
    ):
        if calls is not None or tokens is not None:
            checks.append((period, calls, tokens))
    return checks


def _getter(settings):
    return lambda name: getattr(settings, name, None)


class Quotas:
    """The quota admission check and the recorder hook that feeds it."""

    def __init__(
        self, counters, default_hold: int = 256, zone: str = "UTC", warn: int = 80
    ):
        self.counters = counters
        self.default_hold = default_hold  # completion tokens of a call that names none
        self.zone = zone  # OLLAMA_GATE_TIMEZONE: the calendar of every period
        self.warn = warn  # OLLAMA_GATE_BUDGET_WARN_PERCENT
        self.clock = utcnow  # naive UTC now; tests set another
        # the periods of the last minute asked: every call asks, and naming them in
        # the zone cost about 1% of a worker's time (bench/PROFILE.md); a period
        # starts at a local midnight, always on a whole minute, so a minute's
        # periods are one answer
        self._minute: tuple[datetime, dict[str, str]] | None = None

    def periods(self, now: datetime | None = None) -> dict[str, str]:
        """The day, week and month now (or at ``now``), by kind (shared: not to be
        changed by the caller)."""
        now = now or self.clock()
        minute = now.replace(second=0, microsecond=0)
        cached = self._minute
        if cached is not None and cached[0] == minute:
            return cached[1]
        found = periods_at(minute, self.zone)
        self._minute = (minute, found)
        return found

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
        now = self.clock()
        periods = call.periods = self.periods(now)
        try:
            for level in levels_of(call):
                checks = checks_in(level, periods)
                if not checks:
                    continue
                shadow = bool(level.get("budget_shadow"))
                if shadow:  # its budgets refuse nothing: checked after, recorded
                    enforced = [(p, calls, None) for p, calls, _ in checks]
                else:
                    enforced = checks
                if hold is None and not shadow:
                    wants = any(tokens is not None for _, _, tokens in checks)
                    hold = tokens_to_hold(call, self.default_hold) if wants else None
                ref = level.subject.ref
                own_hold = 0 if shadow else (hold or 0)
                refused, held = self.counters.admit(ref, enforced, own_hold)
                if refused is not None:
                    raise refusal(
                        checks[refused[0]], *refused[1:], level.subject, now=now
                    )
                admitted.append((ref, tuple(p for p, _, _ in checks), held))
                if shadow:
                    shadow_check(self.counters, level, checks, call)
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
        marks: Marks = {}  # the budgets the batch spends on: their event marks
        for call in in_turns(calls):
            holds.extend(call.extra.pop(HELD, ()))
            if not call.extra.get(USAGE):
                continue
            shadowed = shadow_texts(call)
            if shadowed:  # history keeps it with the call's statistics
                call.stats = {**(call.stats or {}), "budget_shadow": shadowed}
            tokens = (
                0
                if not call.charge_tokens
                else int(call.stats.get("total_tokens") or 0)
            )
            counted = call.extra.get(COUNTED, ())
            levels = levels_of(call)
            periods = call.periods or self.periods(call.started_at)
            for kind, period in periods.items():
                row = (call.identity.key_id, period)
                calls_so_far, tokens_so_far = totals.get(row, (0, 0))
                totals[row] = (calls_so_far + 1, tokens_so_far + tokens)
                for level in levels:  # only counters seeded already take it
                    name = (level.subject.ref, period)
                    entry = live.get(name)
                    if entry is None:  # the batch's first call at this level
                        entry = live[name] = [0, 0]
                    entry[0] += name not in counted
                    entry[1] += tokens
                    if tokens:
                        mark(marks, level, kind, period, self.warn)
        moved = []
        try:
            if totals:
                add_usage(totals)
        finally:  # the holds go even when the database is gone, or the key locks up
            if live or holds:
                moved = self.counters.add(
                    [(k, p, c, t) for (k, p), (c, t) in live.items()],
                    keep=set(self.periods().values()),
                    holds=holds,
                )
        notice_moves(moved or (), marks)


KEY = Subject("key", 0, "")  # a refusal's subject when none is named: the key


def refusal(
    check: Check, kind: str, used: int, subject=KEY, now: datetime | None = None
) -> ApiError:
    """The 429 for a used-up quota or budget: which one, how much is used, when it
    resets (in the gateway's time zone); or for tokens held by calls in flight:
    retry when they end."""
    period, calls, tokens = check
    if kind == "held":
        return held_refusal(period, tokens, used, subject)
    quota = calls if kind == "calls" else tokens
    reset = local_reset(period)
    now = now or utcnow()
    wait = max(1, math.ceil((reset - now.replace(tzinfo=UTC)).total_seconds()))
    adjective = ADJECTIVE[period[0]]
    if kind == "calls":
        what = f"{adjective} call quota of {subject.phrase}"
    else:
        what = name_of(subject, period)
    message = (
        f"{what} is used up ({used} of {quota} {kind}); "
        f"it resets at {reset_text(period)}"
    )
    return ApiError(
        429,
        message,
        {
            "Retry-After": str(wait),
            "X-RateLimit-Limit": str(quota),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(math.ceil(reset.timestamp())),
            RESET_HEADER: reset.isoformat(),
            "x-should-retry": "false",  # a resend cannot succeed before the reset
        },
    )


RESET_HEADER = "X-Ollama-Gate-Budget-Reset"
HELD_RETRY = 2  # seconds: calls in flight settle within their answer and a record


def held_refusal(period: str, quota: int, used: int, subject=KEY) -> ApiError:
    """The 429 for a call whose token estimate does not fit what calls in flight of
    the key (or its user or team) leave of a token budget: it may fit once they
    end."""
    return ApiError(
        429,
        f"{name_of(subject, period)} is held by its "
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
