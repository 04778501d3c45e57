"""Usage dashboard: calls and tokens over time, per model, user, key; errors; TTFB."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from flask import abort, render_template, request
from flask_login import login_required
from sqlalchemy import case, func, select

from ..extensions import db
from ..models import utcnow
from .blueprint import bp
from .charts import hbars, stacked_bars
from .models import Request
from .query import Filters, error_condition

RANGES = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}
MAX_HOUR_BUCKETS = 24 * 7
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


def percentile(sorted_values: list[float], p: float) -> float | None:
    """The nearest-rank percentile ``p`` (0-100) of already sorted values."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@bp.get("/dashboard")
@login_required
def dashboard():
    """Usage at a glance: over time, per model, per user, per key, errors and TTFB."""
    span = request.args.get("range", "24h")
    if span not in RANGES:
        abort(400, description="range must be one of " + ", ".join(RANGES))
    unit = request.args.get("unit") or (
        "hour" if RANGES[span] <= timedelta(days=2) else "day"
    )
    if unit not in ("hour", "day"):
        abort(400, description="unit must be hour or day")
    if unit == "hour" and RANGES[span] > timedelta(hours=MAX_HOUR_BUCKETS):
        unit = "day"
    try:
        filters = Filters.from_args(
            {k: request.args.get(k) for k in ("user", "key", "model")}
        )
    except ValueError as exc:
        abort(400, description=str(exc))
    end = utcnow()
    start = end - RANGES[span]
    is_err = case((error_condition(), 1), else_=0)
    window = [Request.started_at >= start, *filters.conditions()]

    bucket = bucket_expr(unit).label("bucket")
    per_bucket = {
        b: (calls, errs, pt or 0, ct or 0)
        for b, calls, errs, pt, ct in db.session.execute(
            select(
                bucket,
                func.count(),
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
        i: [float((per_bucket.get(lbl) or (0, 0, 0, 0))[i] or 0) for lbl in labels]
        for i in range(4)
    }
    calls_chart = stacked_bars(
        "Calls",
        labels,
        [
            ("ok", "ok", [c - e for c, e in zip(col[0], col[1], strict=True)]),
            ("errors", "err", col[1]),
        ],
    )
    tokens_chart = stacked_bars(
        "Tokens",
        labels,
        [("prompt", "prompt", col[2]), ("completion", "completion", col[3])],
    )
    total_calls, total_errors = int(sum(col[0])), int(sum(col[1]))
    return render_template(
        "history/dashboard.html",
        span=span,
        unit=unit,
        ranges=list(RANGES),
        filters=filters,
        calls_chart=calls_chart,
        tokens_chart=tokens_chart,
        total_calls=total_calls,
        total_errors=total_errors,
        prompt_tokens=int(sum(col[2])),
        completion_tokens=int(sum(col[3])),
        error_rate=(100.0 * total_errors / total_calls) if total_calls else 0.0,
        groups=_groups(window),
        ttfb=_ttfb(window),
    )


def _groups(window: list) -> list[dict]:
    """Calls and tokens per model, per user and per key (the top ones)."""
    out = []
    for title, col in (
        ("model", Request.model),
        ("user", Request.user_name),
        ("key", Request.key_prefix),
    ):
        rows = db.session.execute(
            select(col, func.count().label("n"), func.sum(Request.total_tokens))
            .where(*window)
            .group_by(col)
            .order_by(func.count().desc())
            .limit(TOP)
        ).all()
        named = [(name or "(none)", n, tokens or 0) for name, n, tokens in rows]
        out.append(
            {
                "title": title,
                "calls": hbars(
                    f"Calls per {title}", [(n, c) for n, c, _ in named], "calls"
                ),
                "tokens": hbars(
                    f"Tokens per {title}", [(n, t) for n, _, t in named], "tokens"
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
        groups.setdefault("streamed" if streamed else "whole", []).append(ttfb)
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
