"""The cache's admin page (``/admin/cache``): its size, entries and hit rate, and a
button that clears it."""

from __future__ import annotations

import logging

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    url_for,
)
from flask_login import login_required

from ..audit import record
from ..extensions import db
from ..web import add_security_headers

log = logging.getLogger("ollama_gate.cache")

bp = Blueprint("cache", __name__, url_prefix="/admin/cache")


@bp.after_request
def _security_headers(response: Response) -> Response:
    """The admin pages' headers (CSP, no framing, no caching)."""
    return add_security_headers(response)


def cache_state():
    """The app's cache stage (its store and settings)."""
    return current_app.extensions["ollama_gate_cache"]


def hit_rate(stats: dict[str, int]) -> float | None:
    """Hits per looked-up call (hits and misses; bypasses never looked), or None."""
    looked = stats["hits"] + stats["misses"]
    return stats["hits"] / looked if looked else None


@bp.get("/")
@login_required
def index():
    """The cache's figures and settings."""
    state = cache_state()
    try:
        stats = state.store.stats()
    except Exception:  # the store is down: say so rather than fail the page
        log.warning("cache: stats failed", exc_info=True)
        stats = None
    return render_template(
        "cache/index.html",
        stats=stats,
        rate=hit_rate(stats) if stats else None,
        settings=current_app.config["GATE"],
        store=state.store.kind,
    )


@bp.post("/clear")
@login_required
def clear():
    """Forget every cached answer and the counters (the form carries a CSRF token)."""
    try:
        gone = cache_state().store.clear()
    except Exception:
        log.warning("cache: clear failed", exc_info=True)
        flash("The cache's store is unavailable; nothing was cleared.", "error")
        return redirect(url_for("cache.index"))
    record("cache_cleared", "cache", f"{gone} entries")
    db.session.commit()
    flash(f"Cache cleared: {gone} cached answers removed.", "success")
    return redirect(url_for("cache.index"))
