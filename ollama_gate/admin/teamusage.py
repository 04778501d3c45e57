"""What the teams pages count: each team's keys, and its calls and tokens today and
this month (the quota counters' rows, summed over its members' keys: one pool)."""

from __future__ import annotations

from datetime import datetime

from flask import abort
from sqlalchemy import func

from ..accounts.scope import may_see_team
from ..extensions import db
from ..limits.periods import app_zone
from ..limits.usage import Usage, day_period, month_period
from ..models import ApiKey, Team, User
from .users import MAX_ID


def get_team_or_404(team_id: int) -> Team:
    """The team with ``team_id``, or a 404 page (also a team other than the one a
    team admin administers)."""
    team = db.session.get(Team, team_id) if team_id <= MAX_ID else None
    if team is None or not may_see_team(team.id):
        abort(404)
    return team


def team_key_counts() -> dict[int, int]:
    """Team id -> how many keys its members hold (every state)."""
    rows = db.session.execute(
        db.select(User.team_id, func.count(ApiKey.id))
        .join(ApiKey, ApiKey.user_id == User.id)
        .where(User.team_id.is_not(None))
        .group_by(User.team_id)
    )
    return {team_id: n for team_id, n in rows}


def team_usage(now: datetime) -> dict[tuple[int, str], tuple[int, int]]:
    """(team id, "today" or "month") -> (calls, tokens) its members' keys used, as
    the quotas count them (a key moved between teams brings its rows along)."""
    zone = app_zone()  # the periods the quotas count in (OLLAMA_GATE_TIMEZONE)
    names = {day_period(now, zone): "today", month_period(now, zone): "month"}
    rows = db.session.execute(
        db.select(
            User.team_id, Usage.period, func.sum(Usage.calls), func.sum(Usage.tokens)
        )
        .join(ApiKey, ApiKey.id == Usage.key_id)
        .join(User, User.id == ApiKey.user_id)
        .where(User.team_id.is_not(None), Usage.period.in_(list(names)))
        .group_by(User.team_id, Usage.period)
    )
    return {
        (team_id, names[period]): (int(calls or 0), int(tokens or 0))
        for team_id, period, calls, tokens in rows
    }
