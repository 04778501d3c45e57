"""Usage dashboard: calls and tokens over time, per model, user, team, key; errors;
TTFB."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import abort, current_app, render_template, request
from flask_login import login_required
from sqlalchemy import and_, case, func, select

from ..accounts.roles import for_staff
from ..accounts.scope import call_conditions, scoped
from ..extensions import db
from ..failed_keys import failed_key_attempts
from ..models import utcnow
from .blueprint import bp
from .charts import hbars, stacked_bars
from .hit_rates import hit_rates
from .models import Request
from .query import Filters, error_condition, parse_time, refused_condition
from .trends import (
    bucket_range,
    history_link,
    latency_chart,
    percentile,
    speed_chart,
)
from .waits import queue_waits

# what a call without a model, user, key or backend was: said, not "(none)"
NONE_LABELS = {
    "model": "no model (lists, version)",
    "user": "no user (refused, no key)",
    "team": "no team",
    "key": "no key (refused, no key)",
    "backend": "no backend (not sent on)",
}

RANGES = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}
MAX_HOUR_BUCKETS = 24 * 7
MAX_SPAN = timedelta(days=731)
MAX_TTFB_SAMPLES = 200_000  # newest calls used for the percentiles
TOP = 10


def bucket_expr(unit: str):
    """SQL expression giving a call's hour or day as text ``YYYY-MM-DD[ HH:00]``."""
    col = Request.started_at
    dialect = db.engine.dialect.name
    if dialect == "postgresql":
        return func.to_char(
            col, "YYYY-MM-DD HH24:00" if unit == "hour" else "YYYY-MM-DD"
        )
    if dialect in ("mysql", "mariadb"):
        return func.date_format(col, "%Y-%m-%d %H:00" if unit == "hour" else "%Y-%m-%d")
    return func.strftime("%Y-%m-%d %H:00" if unit == "hour" else "%Y-%m-%d", col)


def bucket_labels(start: datetime, end: datetime, unit: str) -> list[str]:
    """Every bucket label from ``start`` to ``end``, so empty hours still show."""
    step = timedelta(hours=1) if unit == "hour" else timedelta(days=1)
    form = "%Y-%m-%d %H:00" if unit == "hour" else "%Y-%m-%d"
    t = start.replace(minute=0, second=0, microsecond=0)
    if unit == "day":
        t = t.replace(hour=0)
    labels = []
    while t <= end:
        labels.append(t.strftime(form))
        t += step
    return labels


def date_window(span: str) -> tuple[datetime, datetime, str]:
    """(start, end, span) from ``since``/``until`` dates, else from the ``range``."""
    since, until = request.args.get("since", ""), request.args.get("until", "")
    end = utcnow()
    if since or until:
        try:
            start = parse_time(since) if since else end - RANGES["24h"]
            if until:
                end = min(end, parse_time(until, end=True))
        except (ValueError, OverflowError):
            abort(400, description="since and until must be dates (YYYY-MM-DD)")
        if start >= end or end - start > MAX_SPAN:
            abort(400, description="since must be before until, within 2 years")
        return start, end, "custom"
    if span not in RANGES:
        abort(400, description="range must be one of " + ", ".join(RANGES))
    return end - RANGES[span], end, span


@bp.get("/dashboard")
@login_required
@for_staff
def dashboard():
    """Usage at a glance: over time, per model, per user, per key, errors, latency."""
    start, end, span = date_window(request.args.get("range", "24h"))
    current_app.extensions["ollama_gate"].key_cache.failures.flush()  # this worker's
    unit = request.args.get("unit") or (
        "hour" if end - start <= timedelta(days=2) else "day"
    )
    if unit not in ("hour", "day"):
        abort(400, description="unit must be hour or day")
    if unit == "hour" and end - start > timedelta(hours=MAX_HOUR_BUCKETS):
        unit = "day"
    try:
        filters = Filters.from_args(
            {
                k: request.args.get(k)
                for k in ("user", "team", "key", "model", "backend")
            }
        )
    except ValueError as exc:
        abort(400, description=str(exc))
    refused = refused_condition()
    is_ref = case((refused, 1), else_=0)
    is_err = case((and_(error_condition(), ~refused), 1), else_=0)
    window = [
        Request.started_at >= start,
        Request.started_at < end,
        *filters.conditions(),
        *call_conditions(Request),  # a team admin: their team's calls only
    ]

    bucket = bucket_expr(unit).label("bucket")
    per_bucket = {
        b: (calls, refs, errs, pt or 0, ct or 0)
        for b, calls, refs, errs, pt, ct in db.session.execute(
            select(
                bucket,
                func.count(),
                func.sum(is_ref),
                func.sum(is_err),
                func.sum(Request.prompt_tokens),
                func.sum(Request.completion_tokens),
            )
            .where(*window)
            .group_by(bucket)
        ).all()
    }
    labels = bucket_labels(start, end, unit)
    col = {
        i: [float((per_bucket.get(lbl) or (0,) * 5)[i] or 0) for lbl in labels]
        for i in range(5)
    }
    base = filters.as_args()
    status_of = {"ok": "ok", "ref": "refused", "err": "failed"}

    def bar_link(label: str, cls: str) -> str:
        since, until = bucket_range(label, unit)
        return history_link(base, since=since, until=until, status=status_of.get(cls))

    ok = [c - r - e for c, r, e in zip(col[0], col[1], col[2], strict=True)]
    calls_chart = stacked_bars(
        "Calls",
        labels,
        [
            ("ok", "ok", ok),
            ("refused by the gateway", "ref", col[1]),
            ("errors", "err", col[2]),
        ],
        href=bar_link,
    )
    tokens_chart = stacked_bars(
        "Tokens",
        labels,
        [("prompt", "prompt", col[3]), ("completion", "completion", col[4])],
        href=bar_link,
    )
    total_calls = int(sum(col[0]))
    total_refused, total_errors = int(sum(col[1])), int(sum(col[2]))
    # whole minutes, ``until`` rounded up: it is exclusive, and the window ends now
    later = end + timedelta(minutes=1)
    period = {"since": f"{start:%Y-%m-%dT%H:%M}", "until": f"{later:%Y-%m-%dT%H:%M}"}
    return render_template(
        "history/dashboard.html",
        span=span,
        unit=unit,
        ranges=list(RANGES),
        since=request.args.get("since", "") or f"{start:%Y-%m-%d}",
        until=request.args.get("until", "") or f"{end:%Y-%m-%d}",
        filters=filters,
        calls_chart=calls_chart,
        tokens_chart=tokens_chart,
        latency_chart=latency_chart(bucket, window, labels),
        speed_chart=speed_chart(bucket, window, labels),
        total_calls=total_calls,
        total_refused=total_refused,
        total_errors=total_errors,
        prompt_tokens=int(sum(col[3])),
        completion_tokens=int(sum(col[4])),
        error_rate=(100.0 * total_errors / total_calls) if total_calls else 0.0,
        links={
            "refused": history_link({**base, **period}, status="refused"),
            "errors": history_link({**base, **period}, status="failed"),
            "all": history_link({**base, **period}),
        },
        groups=_groups(window, {**base, **period}),
        ttfb=_ttfb(window),
        hit_rates=hit_rates(window),
        queue_waits=queue_waits(window),
        # unknown keys tried are nobody's team: an admin's to see
        failed_keys=failed_key_attempts(start, end) if not scoped() else {},
    )


def _groups(window: list, base: dict[str, str]) -> list[dict]:
    """Calls and tokens per model, user, team, key and backend (the top ones); a key is
    shown with its owner and name, and each bar leads to its calls."""
    out = []
    for title, col in (
        ("model", Request.model),
        ("user", Request.user_name),
        ("team", Request.team_name),  # the team at the time of each call
        ("key", Request.key_prefix),
        ("backend", Request.backend),  # one bar per backend that answered
    ):
        rows = db.session.execute(
            select(
                col,
                func.count().label("n"),
                func.sum(Request.total_tokens),
                func.max(Request.user_name),
                func.max(Request.key_name),
            )
            .where(*window)
            .group_by(col)
            .order_by(func.count().desc())
            .limit(TOP)
        ).all()
        values: dict[str, str] = {}  # bar label -> the filter value it stands for
        named = []
        for value, n, tokens, user, key_name in rows:
            label = value or NONE_LABELS[title]
            if title == "key" and value:
                label = f"{value} {user}" + (f"/{key_name}" if key_name else "")
            values[label] = value
            named.append((label, n, tokens or 0))

        def link(label: str, title: str = title, values=values) -> str | None:
            value = values.get(label)
            return history_link(base, **{title: value}) if value else None

        out.append(
            {
                "title": title,
                "calls": hbars(
                    f"Calls per {title}",
                    [(n, c) for n, c, _ in named],
                    "calls",
                    href=link,
                ),
                "tokens": hbars(
                    f"Tokens per {title}",
                    [(n, t) for n, _, t in named],
                    "tokens",
                    href=link,
                ),
            }
        )
    return out


def _ttfb(window: list) -> list[dict]:
    """Time-to-first-byte percentiles, for streamed and whole answers, and per model."""
    rows = db.session.execute(
        select(Request.ttfb_ms, Request.streamed, Request.model)
        .where(*window, Request.ttfb_ms.is_not(None))
        .order_by(Request.started_at.desc())
        .limit(MAX_TTFB_SAMPLES)
    ).all()
    groups: dict[str, list[float]] = {}
    for ttfb, streamed, model in rows:
        groups.setdefault("streamed" if streamed else "not streamed", []).append(ttfb)
        groups.setdefault(f"model {model or '(none)'}", []).append(ttfb)
    out = []
    for name in sorted(
        groups, key=lambda n: (n.startswith("model"), -len(groups[n]), n)
    ):
        values = sorted(groups[name])
        out.append(
            {
                "name": name,
                "count": len(values),
                **{f"p{p}": percentile(values, p) for p in (50, 90, 95, 99)},
            }
        )
    return out[: 2 + TOP]
