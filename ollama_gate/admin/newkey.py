"""A key from the Keys page in one form (``/admin/keys/new``): pick its user or name a
new one, set its limits, and land on the page that shows the secret once."""

from __future__ import annotations

from flask import render_template, request
from flask_login import login_required
from sqlalchemy import select

from ..accounts.roles import for_staff
from ..accounts.scope import NO_TEAM, managed_team_id, may_manage, user_conditions
from ..audit import record
from ..extensions import db
from ..models import Team, User
from .blueprint import bp
from .fleet import fleet_model_names
from .forms import NewKeyForm
from .handout import hand_out

MAX_CHOICES = 2000  # past this many users, a new key starts from the user's page


def _form() -> NewKeyForm:
    form = NewKeyForm()
    users = db.session.execute(
        select(User.id, User.name)
        .where(*user_conditions(User))  # a team admin picks among their team
        .order_by(User.name)
        .limit(MAX_CHOICES)
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
        if owner is None or not may_manage(owner):
            form.user.errors.append("That user no longer exists.")
            return None
        return owner
    team = managed_team_id()  # None for an admin: the new user is in no team
    if team == NO_TEAM:
        form.new_user.errors.append("You administer no team; ask an admin.")
        return None
    if db.session.execute(select(User.id).where(User.name == name)).first():
        form.new_user.errors.append("A user with this name exists: pick them above.")
        return None
    # a team admin's new user joins their team, as a member (the default role)
    owner = User(name=name, team=db.session.get(Team, team) if team else None)
    db.session.add(owner)
    record("user_created", name, f"team {owner.team.name}" if team else "")
    return owner


@bp.route("/keys/new", methods=["GET", "POST"])
@login_required
@for_staff
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
