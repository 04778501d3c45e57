"""Admins in the web UI: the users with the admin role; list, add, remove (never
oneself)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from ..accounts.manage import remove_admin
from ..accounts.roles import ADMIN
from ..audit import record
from ..extensions import db
from ..models import User
from .blueprint import bp
from .forms import AdminForm, ConfirmForm
from .sorting import sort_arg
from .users import MAX_ID


@bp.route("/admins", methods=["GET", "POST"])
@login_required
def admins():
    """Every admin, and the form to add one."""
    form = AdminForm()
    if form.validate_on_submit():
        name = form.name.data.strip()
        if db.session.execute(db.select(User.id).where(User.name == name)).first():
            form.name.errors.append(
                "A user with this name already exists; give them the admin role "
                "on their page instead."
            )
        else:
            admin = User(name=name, role=ADMIN)
            admin.set_password(form.password.data)
            db.session.add(admin)
            record("admin_created", name)
            db.session.commit()
            flash(f"Admin {name} created; give them the password in person.", "success")
            return redirect(url_for("admin.admins"))
    sort, order = sort_arg(
        {
            "name": db.func.lower(User.name),
            "created": User.created_at,
            "last_login": User.last_login_at,
        },
        "name",
    )
    rows = (
        db.session.execute(db.select(User).where(User.role == ADMIN).order_by(*order))
        .scalars()
        .all()
    )
    status = 400 if form.errors else 200
    return render_template(
        "admin/admins.html", form=form, admins=rows, confirm=ConfirmForm(), sort=sort
    ), status


@bp.route("/admins/<int:admin_id>/delete", methods=["GET", "POST"])
@login_required
def delete_admin(admin_id: int):
    """Ask, then remove another admin; their sessions end at once."""
    admin = db.session.get(User, admin_id) if admin_id <= MAX_ID else None
    if admin is None or admin.role != ADMIN:
        abort(404)
    if admin.id == current_user.id:
        flash("You cannot remove yourself; ask another admin.", "error")
        return redirect(url_for("admin.admins"))
    form = ConfirmForm()
    if form.validate_on_submit():
        name = admin.name
        remove_admin(admin)
        db.session.commit()
        flash(f"Admin {name} removed.", "success")
        return redirect(url_for("admin.admins"))
    return render_template(
        "admin/confirm.html",
        form=form,
        title=f"Remove admin {admin.name}?",
        message=f"{admin.name} will no longer be able to log in"
        + (" (their keys stay, as a member's)." if admin.keys else "."),
        button="Remove admin",
        cancel=url_for("admin.admins"),
    )
