"""The dashboard's trends: latency percentiles and answer speed per hour or day, and
the links from its bars to the matching history."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import func, select

from ..extensions import db
from .charts import lines
from .models import Request

MAX_SAMPLES = 200_000  # newest calls used for the percentiles


def percentile(sorted_values: list[float], p: float) -> float | None:
    """The nearest-rank percentile ``p`` (0-100) of already sorted values."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def latency_chart(bucket, window: list, labels: list[str]):
    """Time to first byte, p50 and p95, per bucket."""
    rows = db.session.execute(
        select(bucket, Request.ttfb_ms)
        .where(*window, Request.ttfb_ms.is_not(None))
        .order_by(Request.started_at.desc())
        .limit(MAX_SAMPLES)
    ).all()
    per: dict[str, list[float]] = {}
    for label, ttfb in rows:
        per.setdefault(label, []).append(ttfb)
    for values in per.values():
        values.sort()
    series = [
        (name, cls, [percentile(per.get(label, []), p) for label in labels])
        for name, cls, p in (("p50", "p50", 50), ("p95", "p95", 95))
    ]
    return lines(
        "Time to first byte (ms)",
        labels,
        series,
        "No answer in this range was timed (refused calls have no first byte).",
    )


def speed_chart(bucket, window: list, labels: list[str]):
    """Completion tokens per second after the first byte, per bucket (streams)."""
    rows = db.session.execute(
        select(
            bucket,
            func.sum(Request.completion_tokens),
            func.sum(Request.total_ms - Request.ttfb_ms),
        )
        .where(
            *window,
            Request.streamed.is_(True),
            Request.completion_tokens > 0,
            Request.total_ms > Request.ttfb_ms,
        )
        .group_by(bucket)
    ).all()
    speed = {label: tokens / (ms / 1000) for label, tokens, ms in rows if ms}
    values = [speed.get(label) for label in labels]
    return lines(
        "Answer speed (tokens/s, streams)",
        labels,
        [("tokens/s", "tps", values)],
        "No streamed answer in this range: the speed is measured on streams.",
    )


def bucket_range(label: str, unit: str) -> tuple[str, str]:
    """The history filters (since, until) that select one bucket of a chart."""
    if unit == "day":
        return label, label  # a date: ``until`` includes the whole day
    start = datetime.strptime(label, "%Y-%m-%d %H:00")
    end = start + timedelta(hours=1)
    return start.strftime("%Y-%m-%dT%H:%M"), end.strftime("%Y-%m-%dT%H:%M")


def history_link(base: dict[str, str], **extra: str | None) -> str:
    """The history list's URL for ``base`` filters plus ``extra``."""
    args = {**base, **{k: v for k, v in extra.items() if v}}
    return "/history/" + ("?" + urlencode(args) if args else "")
