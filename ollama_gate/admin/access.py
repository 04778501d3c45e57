"""A user's sign-in on the user page: their role, and a one-time invitation link
with which they set a password (shown once)."""

from __future__ import annotations

from flask import (
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required

from ..accounts.invitations import create_invitation, invite_link
from ..accounts.manage import set_role
from ..accounts.roles import ADMIN, ROLE_LABELS, ROLES
from ..accounts.sessions import local_passwords
from ..audit import FleetError, record
from ..extensions import db
from .blueprint import bp
from .users import get_user_or_404


def public_base_url() -> str:
    """The address people open the gateway at: the public URL setting when there is
    one, else the host this request came to."""
    return current_app.config["GATE"].get("PUBLIC_URL") or request.host_url


@bp.post("/users/<int:user_id>/role")
@login_required
def user_role(user_id: int):
    """Give the user a role (admin, team admin, member); never one's own."""
    user = get_user_or_404(user_id)
    role = request.form.get("role", "")
    if role not in ROLES:
        abort(400, description="unknown role")
    if user.id == current_user.id:
        flash("You cannot change your own role; ask another admin.", "error")
    else:
        try:
            changed = set_role(user, role)
        except FleetError as exc:
            flash(str(exc), "error")
            changed = False
        if changed:
            db.session.commit()
            flash(f"{user.name} is now {ROLE_LABELS[role].lower()}.", "success")
    return redirect(url_for("admin.user", user_id=user.id) + "#user-access")


@bp.post("/users/<int:user_id>/invite")
@login_required
def user_invite(user_id: int):
    """Make a one-time link for the user to set a password; shown on this page only."""
    user = get_user_or_404(user_id)
    if not local_passwords():
        flash("Passwords are turned off (LOCAL_PASSWORDS): no invitations.", "error")
        return redirect(url_for("admin.user", user_id=user.id))
    hours = current_app.config["GATE"]["INVITE_HOURS"]
    token = create_invitation(user, current_user.name, hours)
    record("invite_created", user.name, f"valid {hours:g} hours")
    db.session.commit()
    return render_template(
        "admin/invite_created.html",
        user=user,
        link=invite_link(public_base_url(), token),
        hours=hours,
    )


def init_app(app) -> None:
    """The role names the user page's select shows."""
    app.add_template_global(ROLE_LABELS, "role_labels")
    app.add_template_global(ADMIN, "admin_role")
