"""Every key across users (``/admin/keys``): search, filter by state, sort, pages."""

from __future__ import annotations

import re

from flask import Flask, redirect, render_template, request, url_for
from flask_login import login_required
from markupsafe import Markup, escape
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import contains_eager

from ..accounts.roles import for_staff
from ..accounts.scope import user_conditions
from ..extensions import db
from ..limits.periods import app_zone
from ..limits.usage import Usage, day_period
from ..models import ApiKey, User, utcnow
from .audit import page_arg
from .blueprint import bp
from .sorting import sort_arg

PAGE_SIZE = 50
STATES = ("active", "rotating", "disabled", "expired", "revoked")


def state_condition(state: str, now):
    """SQL for ``ApiKey.state(now) == state`` ("rotating": active, in its grace)."""
    revoked = or_(
        ApiKey.revoked_at.is_not(None),
        and_(ApiKey.revoke_at.is_not(None), ApiKey.revoke_at <= now),
    )
    expired = and_(ApiKey.expires_at.is_not(None), ApiKey.expires_at <= now)
    if state == "revoked":
        return revoked
    if state == "disabled":
        return and_(~revoked, ApiKey.disabled)
    if state == "expired":
        return and_(~revoked, ~ApiKey.disabled, expired)
    active = and_(~revoked, ~ApiKey.disabled, ~expired)
    if state == "rotating":
        return and_(active, ApiKey.revoke_at.is_not(None))
    return active


def search_condition(text: str):
    """A key whose prefix starts with ``text``, or whose name or user contains it."""
    return or_(
        ApiKey.prefix.startswith(text, autoescape=True),
        ApiKey.name.icontains(text, autoescape=True),
        User.name.icontains(text, autoescape=True),
    )


def calls_today_of(key_ids: list[int], now) -> dict[int, int]:
    """Calls of each key today (OLLAMA_GATE_TIMEZONE), from the usage table."""
    rows = db.session.execute(
        select(Usage.key_id, Usage.calls).where(
            Usage.key_id.in_(key_ids), Usage.period == day_period(now, app_zone())
        )
    )
    return {key_id: int(calls) for key_id, calls in rows}


@bp.get("/keys")
@login_required
@for_staff
def all_keys():
    """All keys of all users (a team admin: of their team), with today's calls."""
    now = utcnow()
    today = (
        select(Usage.calls)
        .where(Usage.key_id == ApiKey.id, Usage.period == day_period(now, app_zone()))
        .scalar_subquery()
    )
    calls_today = func.coalesce(today, 0)
    sort, order = sort_arg(
        {
            "last_used": ApiKey.last_used_at,
            "created": ApiKey.created_at,
            "today": calls_today,
            "user": func.lower(User.name),
            "name": func.lower(ApiKey.name),
            "expires": ApiKey.expires_at,
            "prefix": ApiKey.prefix,
        },
        "-created",
    )
    query = (
        select(ApiKey)
        .join(ApiKey.user)
        .options(contains_eager(ApiKey.user))
        .where(*user_conditions(User))  # a team admin: their team's keys
    )
    search = request.args.get("q", "").strip()[:120]
    if search:
        query = query.where(search_condition(search))
    state = request.args.get("state", "")
    if state in STATES:
        query = query.where(state_condition(state, now))
    else:
        state = ""
    query = query.order_by(*order, ApiKey.id.desc())
    page = db.paginate(query, page=page_arg(), per_page=PAGE_SIZE, error_out=False)
    return render_template(
        "admin/keys.html",
        page=page,
        today=calls_today_of([k.id for k in page.items], now),
        search=search,
        state=state,
        states=STATES,
        sort=sort,
        now=now,
    )


@bp.get("/keys/prefix/<string:prefix>")
@login_required
@for_staff
def key_by_prefix(prefix: str):
    """The key page of a prefix (as history and the audit log show keys), or the
    search for it when several keys or none have it."""
    ids = (
        db.session.execute(
            select(ApiKey.id)
            .join(ApiKey.user)
            .where(ApiKey.prefix == prefix[:16], *user_conditions(User))
            .limit(2)
        )
        .scalars()
        .all()
    )
    if len(ids) == 1:
        return redirect(url_for("admin.key", key_id=ids[0]))
    return redirect(url_for("admin.all_keys", q=prefix[:16]))


PREFIX_RE = re.compile(r"\bog_[A-Za-z0-9_-]{8}")


def key_url(prefix: str) -> str:
    """Where a shown key prefix links to."""
    return url_for("admin.key_by_prefix", prefix=prefix)


def link_prefixes(text: str) -> Markup:
    """``text`` escaped, each ``og_`` key prefix in it a link to its key."""
    out, last = [], 0
    for match in PREFIX_RE.finditer(text or ""):
        out.append(escape(text[last : match.start()]))
        prefix = match.group(0)
        out.append(
            Markup('<a href="{}"><code>{}</code></a>').format(key_url(prefix), prefix)
        )
        last = match.end()
    out.append(escape((text or "")[last:]))
    return Markup("").join(out)


def init_app(app: Flask) -> None:
    """Key links for every template (history and dashboard pages too)."""
    app.add_template_global(key_url, "key_url")
    app.add_template_filter(link_prefixes, "link_prefixes")
