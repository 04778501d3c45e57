"""Roles and who may open which page: admin (everything), team admin (their team),
member (their own, in the portal).

Every page of the admin area (``/admin``, ``/history``) needs the admin role unless
its view is marked: ``for_staff`` opens it to team admins too, ``for_everyone`` to any
signed-in account (logout, one's own password). The rule is one ``before_request`` for
those blueprints, so a new page is closed to members by default rather than open until
someone remembers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import Flask, current_app, render_template, request
from flask_login import current_user, login_required

ADMIN, TEAM_ADMIN, MEMBER = "admin", "team_admin", "member"
ROLES = (ADMIN, TEAM_ADMIN, MEMBER)
ROLE_LABELS = {ADMIN: "Admin", TEAM_ADMIN: "Team admin", MEMBER: "Member"}
STAFF = (ADMIN, TEAM_ADMIN)

_RULE = "_account_rule"  # the mark on a view function: "staff" or "everyone"


def for_staff(view: Callable) -> Callable:
    """Mark a blueprint page as open to team admins too (they see their team)."""
    setattr(view, _RULE, "staff")
    return view


def for_everyone(view: Callable) -> Callable:
    """Mark a blueprint page as open to any signed-in account."""
    setattr(view, _RULE, "everyone")
    return view


def allowed(user, rule: str | None) -> bool:
    """True if ``user`` (signed in) may open a page under ``rule``."""
    if rule == "everyone":
        return True
    if rule == "staff":
        return user.role in STAFF
    return user.role == ADMIN


def forbidden_page():
    """The 403 page: this area is not for this account; where to go instead."""
    return render_template(
        "admin/forbidden.html",
        title="Not for your account",
        message="These pages are for the gateway's admins. "
        "Your keys and usage are in the portal.",
    ), 403


# the blueprints whose every page is for admins (unless a view is marked otherwise)
GUARDED = ("admin", "cache", "events", "history")
OPEN_ENDPOINTS = ("admin.login", "admin.index")  # no account needed (index redirects)


def guard_blueprints(
    app: Flask, names: tuple[str, ...] = GUARDED, open_endpoints=OPEN_ENDPOINTS
) -> None:
    """Make every page of the blueprints ``names`` need the admin role unless its
    view is marked otherwise; ``open_endpoints`` need no account at all."""

    def check():
        if request.blueprint not in names or request.endpoint in open_endpoints:
            return None
        if not current_user.is_authenticated:
            return None  # each page's login_required sends them to log in
        view = current_app.view_functions.get(request.endpoint)
        if allowed(current_user, getattr(view, _RULE, None)):
            return None
        return forbidden_page()

    app.before_request(check)


def _requiring(roles: tuple[str, ...]) -> Callable[[Callable], Callable]:
    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if current_user.role not in roles:
                return forbidden_page()
            return view(*args, **kwargs)

        return wrapped

    return decorate


admin_required = _requiring((ADMIN,))
admin_required.__doc__ = "A view for admins only (others get the 403 page)."
staff_required = _requiring(STAFF)
staff_required.__doc__ = "A view for admins and team admins (others get the 403 page)."
