"""The audit log's page (``record`` is ``ollama_gate.audit``'s)."""

from __future__ import annotations

from datetime import date, datetime, time

from flask import render_template, request
from flask_login import login_required

from ..audit import AuditLog
from ..extensions import db
from .blueprint import bp
from .sorting import sort_arg

# what each action is called on the audit page
ACTIONS = {
    "login": "Logged in",
    "login_failed": "Failed login",
    "login_refused": "Sign-in refused",
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
    "key_refused": "Key refused (past the team's rules)",
    "keys_imported": "Keys imported",
    "history_imported": "History imported",
    "history_purged": "History purged",
    "admin_created": "Admin created",
    "admin_deleted": "Admin deleted",
    "password_changed": "Password changed",
    "role_changed": "Role changed",
    "invite_created": "Invitation made",
    "invite_used": "Invitation used",
    "backend_added": "Backend added",
    "backend_changed": "Backend changed",
    "backend_removed": "Backend removed",
    "route_set": "Route set",
    "alias_set": "Alias set",
    "alias_removed": "Alias removed",
    "model_policy_set": "Model policy set",
    "cache_cleared": "Cache cleared",
    "hook_added": "Webhook added",
    "hook_deleted": "Webhook deleted",
    "hook_tested": "Webhook tested",
    "hook_enabled": "Webhook resumed",
    "hook_disabled": "Webhook paused",
}
PAGE_SIZE = 50


def unknown_name(text: str) -> str:
    """How a failed login for a name no admin has is logged: never the text itself."""
    # people type passwords into the name field; its length tells attempts apart
    return f"unknown name ({len(text)} chars)"


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
