"""A key from the Keys page in one form (``/admin/keys/new``): pick its user or name a
new one, set its limits, and land on the page that shows the secret once."""

from __future__ import annotations

from flask import render_template, request
from flask_login import login_required
from sqlalchemy import select

from ..audit import record
from ..extensions import db
from ..models import User
from .blueprint import bp
from .fleet import fleet_model_names
from .forms import NewKeyForm
from .handout import hand_out

MAX_CHOICES = 2000  # past this many users, a new key starts from the user's page


def _form() -> NewKeyForm:
    form = NewKeyForm()
    users = db.session.execute(
        select(User.id, User.name).order_by(User.name).limit(MAX_CHOICES)
    ).all()
    form.user.choices = [("", "pick a user…")] + [(str(i), n) for i, n in users]
    if not form.is_submitted():
        form.user.data = request.args.get("user", "")
    return form


def _owner(form: NewKeyForm) -> User | None:
    """The picked user, or a new one added to the session; None (with the field's
    error) when the new name is taken or the picked user is gone."""
    name = (form.new_user.data or "").strip()
    if not name:
        owner = db.session.get(User, int(form.user.data))
        if owner is None:
            form.user.errors.append("That user no longer exists.")
        return owner
    if db.session.execute(select(User.id).where(User.name == name)).first():
        form.new_user.errors.append("A user with this name exists: pick them above.")
        return None
    owner = User(name=name)
    db.session.add(owner)
    record("user_created", name)
    return owner


@bp.route("/keys/new", methods=["GET", "POST"])
@login_required
def new_key():
    """The new-key form; on success, the one-time page of the key's secret."""
    form = _form()
    owner = _owner(form) if form.validate_on_submit() else None
    if owner is None:
        page = render_template(
            "admin/key_new.html", form=form, fleet_models=fleet_model_names()
        )
        return page, (400 if form.is_submitted() else 200)
    return hand_out(owner, form)
