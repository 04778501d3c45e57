"""What a team admin may see and touch: the accounts of their own team (never an
admin's), those accounts' keys, and the calls made in their team (history rows keep
the team of their time). Admins see everything.

Every page open to team admins narrows its rows with these helpers, and the
``get_..._or_404`` lookups of the admin pages refuse a row outside the scope with a
404 (as if it did not exist), so no id in a URL reaches another team's data.
"""

from __future__ import annotations

from flask import has_request_context
from flask_login import current_user
from sqlalchemy import false

from .roles import ADMIN, TEAM_ADMIN

NO_TEAM = 0  # no team has id 0: a team admin without a team administers nobody


def scoped() -> bool:
    """True when the signed-in account sees only a team (anyone but an admin; outside
    a request, the CLI, nothing is narrowed)."""
    if not has_request_context() or not current_user.is_authenticated:
        return False
    return current_user.role != ADMIN


def managed_team_id() -> int | None:
    """The team the signed-in account administers; None when not scoped (an admin),
    ``NO_TEAM`` for anyone who administers no team."""
    if not scoped():
        return None
    if current_user.role == TEAM_ADMIN and current_user.team_id:
        return current_user.team_id
    return NO_TEAM


def user_conditions(user_cls) -> list:
    """SQL conditions on ``users`` for the accounts one may manage: all for an admin;
    a team admin's own team, never an admin (whose password or keys would let a team
    admin act as them)."""
    team = managed_team_id()
    if team is None:
        return []
    if team == NO_TEAM:
        return [false()]
    return [user_cls.team_id == team, user_cls.role != ADMIN]


def may_manage(user) -> bool:
    """True if the signed-in account may see and change ``user`` and their keys."""
    team = managed_team_id()
    if team is None:
        return True
    return team != NO_TEAM and user.team_id == team and user.role != ADMIN


def call_conditions(request_cls) -> list:
    """SQL conditions on history rows: a team admin's team at the time of the call."""
    team = managed_team_id()
    if team is None:
        return []
    return [request_cls.team_id == team] if team != NO_TEAM else [false()]


def may_read_call(row) -> bool:
    """True if the signed-in account may open the history row ``row``."""
    team = managed_team_id()
    return team is None or (team != NO_TEAM and row.team_id == team)


def may_see_team(team_id: int | None) -> bool:
    """True if the signed-in account may open the page of team ``team_id``."""
    team = managed_team_id()
    return team is None or (team != NO_TEAM and team_id == team)
