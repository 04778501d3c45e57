"""The cache's hit rate per model and per key, from the recorded calls (the cache
marks each hit in history), for the dashboard."""

from __future__ import annotations

from sqlalchemy import case, func, select

from ..extensions import db
from .models import Request

TOP = 10


def hit_rates(window: list) -> list[dict]:
    """For the top models and keys by hits: calls, hits and the hit rate (%)."""
    hit = func.sum(case((Request.cache_hit.is_(True), 1), else_=0))
    out = []
    for kind, col in (("model", Request.model), ("key", Request.key_prefix)):
        rows = db.session.execute(
            select(col, func.count(), hit, func.max(Request.key_name))
            .where(*window)
            .group_by(col)
            .having(hit > 0)
            .order_by(hit.desc())
            .limit(TOP)
        ).all()
        for value, calls, hits, key_name in rows:
            name = value or "(none)"
            if kind == "key" and key_name:
                name = f"{name} {key_name}"
            out.append(
                {
                    "kind": kind,
                    "name": name,
                    "calls": calls,
                    "hits": int(hits or 0),
                    "rate": 100.0 * (hits or 0) / calls if calls else 0.0,
                }
            )
    return out
