"""How long calls waited in the gateway's queue for a backend slot, per model and
per backend, from the recorded calls, for the dashboard."""

from __future__ import annotations

from sqlalchemy import select

from ..extensions import db
from .models import Request
from .trends import percentile

MAX_SAMPLES = 100_000  # newest waits used for the percentiles
TOP = 10


def queue_waits(window: list) -> list[dict]:
    """Calls that waited, and their wait's p50, p95 and longest (ms), per model and
    per backend, the most waits first."""
    rows = db.session.execute(
        select(Request.queue_ms, Request.model, Request.backend)
        .where(*window, Request.queue_ms.is_not(None))
        .order_by(Request.started_at.desc())
        .limit(MAX_SAMPLES)
    ).all()
    groups: dict[str, list[float]] = {}
    for waited, model, backend in rows:
        groups.setdefault(f"model {model or '(none)'}", []).append(waited)
        groups.setdefault(f"backend {backend or '(none)'}", []).append(waited)
    out = []
    for name in sorted(groups, key=lambda n: (-len(groups[n]), n))[: 2 * TOP]:
        values = sorted(groups[name])
        out.append(
            {
                "name": name,
                "count": len(values),
                "p50": percentile(values, 50),
                "p95": percentile(values, 95),
                "max": values[-1],
            }
        )
    return out
