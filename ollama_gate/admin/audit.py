"""The audit log: ``record`` for every admin action, and the page that lists them."""

from __future__ import annotations

from datetime import date, datetime, time

from flask import has_request_context, render_template, request
from flask_login import current_user, login_required

from ..columns import fit_strings
from ..extensions import db
from ..remote import client_of
from .blueprint import bp
from .models import Admin, AuditLog
from .sorting import sort_arg

# what each action is called on the audit page
ACTIONS = {
    "login": "Logged in",
    "login_failed": "Failed login",
    "logout": "Logged out",
    "user_created": "User created",
    "user_deleted": "User deleted",
    "user_networks": "Trusted networks set",
    "user_updated": "User changed",
    "team_created": "Team created",
    "team_updated": "Team changed",
    "team_deleted": "Team deleted",
    "end_user_updated": "End user changed",
    "key_created": "Key created",
    "key_updated": "Key changed",
    "key_disabled": "Key disabled",
    "key_enabled": "Key enabled",
    "key_revoked": "Key revoked",
    "key_rotated": "Key rotated",
    "keys_imported": "Keys imported",
    "history_imported": "History imported",
    "history_purged": "History purged",
    "admin_created": "Admin created",
    "admin_deleted": "Admin deleted",
    "password_changed": "Password changed",
    "backend_added": "Backend added",
    "backend_changed": "Backend changed",
    "backend_removed": "Backend removed",
    "route_set": "Route set",
    "alias_set": "Alias set",
    "alias_removed": "Alias removed",
    "model_policy_set": "Model policy set",
    "cache_cleared": "Cache cleared",
}
PAGE_SIZE = 50


def client_address() -> str:
    """The address of the client of the current request ("local" outside a request)."""
    if not has_request_context():
        return "local"
    return client_of(request.environ).address[:64]


def unknown_name(text: str) -> str:
    """How a failed login for a name no admin has is logged: never the text itself."""
    # people type passwords into the name field; its length tells attempts apart
    return f"unknown name ({len(text)} chars)"


def record(
    action: str,
    target: str = "",
    detail: str = "",
    admin: Admin | None = None,
    admin_name: str | None = None,
) -> AuditLog:
    """Add an audit entry to the session (the caller commits with its own change)."""
    if admin is None and has_request_context() and current_user.is_authenticated:
        admin = current_user._get_current_object()
    if admin_name is None:
        admin_name = (
            admin.name
            if admin is not None
            else ("" if has_request_context() else "cli")
        )
    values = dict(
        action=action,
        target=target,
        detail=detail,
        admin_id=admin.id if admin is not None else None,
        admin_name=admin_name,
        client_addr=client_address(),
    )
    entry = AuditLog(**fit_strings(AuditLog.__table__, values))
    db.session.add(entry)
    return entry


def day_arg(name: str) -> date | None:
    """A ``YYYY-MM-DD`` query argument, or None when missing or not a date."""
    try:
        return date.fromisoformat(request.args.get(name, "").strip())
    except ValueError:
        return None


@bp.get("/audit")
@login_required
def audit_log():
    """Every admin action, newest first; by action, admin, target and dates."""
    sort, order = sort_arg(
        {
            "at": AuditLog.at,
            "admin": AuditLog.admin_name,
            "action": AuditLog.action,
            "target": AuditLog.target,
        },
        "-at",
    )
    query = db.select(AuditLog).order_by(*order, AuditLog.id.desc())
    action = request.args.get("action", "")
    if action in ACTIONS:
        query = query.where(AuditLog.action == action)
    else:
        action = ""
    who = request.args.get("admin", "").strip()[:80]
    if who:
        query = query.where(AuditLog.admin_name == who)
    target = request.args.get("target", "").strip()[:200]
    if target:
        query = query.where(AuditLog.target.icontains(target, autoescape=True))
    since, until = day_arg("since"), day_arg("until")
    if since:
        query = query.where(AuditLog.at >= datetime.combine(since, time.min))
    if until:
        query = query.where(AuditLog.at < datetime.combine(until, time.max))
    page = db.paginate(query, page=page_arg(), per_page=PAGE_SIZE, error_out=False)
    names = db.session.execute(
        db.select(AuditLog.admin_name).distinct().order_by(AuditLog.admin_name)
    ).scalars()
    filters = {
        "action": action,
        "admin": who,
        "target": target,
        "since": since.isoformat() if since else "",
        "until": until.isoformat() if until else "",
    }
    return render_template(
        "admin/audit.html",
        page=page,
        action=action,
        actions=ACTIONS,
        admins=[n for n in names if n],
        filters=filters,
        filtered=any(filters.values()),
        sort=sort,
        args={k: v for k, v in {**filters, "sort": sort}.items() if v},
    )


MAX_PAGE = 1_000_000  # beyond any real list; a larger offset overflows the database


def page_arg() -> int:
    """The ``page`` query argument: 1 when missing or odd, at most ``MAX_PAGE``."""
    page = request.args.get("page", 1, type=int)
    return min(max(page, 1), MAX_PAGE)
