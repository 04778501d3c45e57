"""The admin landing page (``/admin/overview``): is everything healthy (backends,
the queue, errors in the last hour), traffic today against yesterday, top users,
teams and models today, keys near their budget and the latest admin actions; each
links to its page. On the admin blueprint, here because it reads the history tables."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import and_, func, or_, select

from ..accounts.roles import for_staff
from ..accounts.scope import managed_team_id
from ..admin.audit import ACTIONS
from ..admin.blueprint import bp
from ..audit import AuditLog
from ..events.models import Event
from ..extensions import db
from ..limits.periods import app_zone
from ..limits.usage import Usage, day_period, month_period, week_period
from ..models import ApiKey, utcnow
from ..routing.status import fleet_status, queue_status
from .models import Request
from .query import error_condition

TOP = 5
NEAR = 0.8  # a budget this much used is "near its end"


def _calls(start: datetime, end: datetime, *conds) -> int:
    query = select(func.count()).select_from(Request)
    query = query.where(Request.started_at >= start, Request.started_at < end, *conds)
    return db.session.execute(query).scalar_one()


def _top(column, start: datetime, *extra) -> list[tuple]:
    """The ``TOP`` values of ``column`` by calls since ``start``."""
    calls = func.count().label("calls")
    query = (
        select(column, *extra, calls)
        .where(Request.started_at >= start, column.is_not(None))
        .group_by(column, *extra)
        .order_by(calls.desc(), column)
        .limit(TOP)
    )
    return list(db.session.execute(query))


def near(used, cap) -> list:
    """The condition that ``used`` is ``NEAR`` a set ``cap`` (none: no cap)."""
    return [] if cap is None else [and_(cap > 0, used >= cap * NEAR)]


def top_teams(start: datetime) -> list[tuple]:
    """The ``TOP`` teams by calls since ``start``: (name, id, calls, tokens)."""
    calls = func.count().label("calls")
    query = (
        select(
            Request.team_name,
            func.max(Request.team_id),
            calls,
            func.coalesce(func.sum(Request.total_tokens), 0),
        )
        .where(Request.started_at >= start, Request.team_name != "")
        .group_by(Request.team_name)
        .order_by(calls.desc(), Request.team_name)
        .limit(TOP)
    )
    return list(db.session.execute(query))


def near_budget(now: datetime) -> list[dict]:
    """Keys that have used ``NEAR`` or more of a daily, weekly or monthly budget."""
    out = []
    zone = app_zone()
    for period, calls_cap, tokens_cap, label in (
        (day_period(now, zone), ApiKey.calls_per_day, ApiKey.tokens_per_day, "today"),
        (week_period(now, zone), None, ApiKey.tokens_per_week, "week"),
        (
            month_period(now, zone),
            ApiKey.calls_per_month,
            ApiKey.tokens_per_month,
            "month",
        ),
    ):
        query = (
            select(ApiKey, Usage)
            .join(Usage, and_(Usage.key_id == ApiKey.id, Usage.period == period))
            .where(
                or_(
                    *near(Usage.calls, calls_cap),
                    *near(Usage.tokens, tokens_cap),
                )
            )
            .limit(TOP)
        )
        for key, usage in db.session.execute(query):
            for used, cap, what in (
                (usage.calls, calls_cap, "calls"),
                (usage.tokens, tokens_cap, "tokens"),
            ):
                limit = getattr(key, cap.key) if cap is not None else None
                if limit and used >= limit * NEAR:
                    out.append(
                        {
                            "key": key,
                            "used": used,
                            "cap": limit,
                            "what": what,
                            "span": label,
                        }
                    )
    return out


@bp.get("/overview")
@login_required
@for_staff
def overview():
    """Health, traffic and who uses what, at a glance (a team admin's overview is
    their team's page: its members, keys and usage against the team's pool)."""
    if not current_user.is_admin:
        team = managed_team_id()
        if team:
            return redirect(url_for("admin.team", team_id=team))
        return redirect(url_for("admin.users"))
    now = utcnow()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)
    backends = fleet_status(current_app)
    queue = queue_status(current_app)
    events = db.session.execute(
        select(AuditLog).order_by(AuditLog.id.desc()).limit(TOP)
    ).scalars()
    # what the gateway itself reported (budgets, backends, keys expiring, waits)
    told = db.session.execute(select(Event).order_by(Event.id.desc()).limit(TOP))
    return render_template(
        "admin/overview.html",
        now=now,
        today=today,
        backends=backends,
        up=sum(b["state"] == "up" for b in backends),
        down=[b for b in backends if b["state"] == "down"],
        waiting=sum(q["waiting"] for q in queue),
        errors_hour=_calls(now - timedelta(hours=1), now, error_condition()),
        hour_ago=f"{now - timedelta(hours=1):%Y-%m-%dT%H:%M}",
        calls_today=_calls(today, now),
        calls_yesterday=_calls(yesterday, today),
        calls_yesterday_by_now=_calls(yesterday, now - timedelta(days=1)),
        top_users=_top(Request.user_name, today, Request.user_id),
        top_models=_top(Request.model, today),
        top_teams=top_teams(today),
        budgets=near_budget(now),
        events=list(events),
        told=list(told.scalars()),
        actions=ACTIONS,
    )
