"""A user's team and own settings on the user page (the form made from
``subject_settings.TABLE``); every change audited with what it changed."""

from __future__ import annotations

from flask import flash, redirect, url_for
from flask_login import login_required
from wtforms.fields.choices import SelectChoice

from ..audit import record
from ..extensions import db
from ..models import Team, User
from ..subject_settings import fill_form
from .blueprint import bp
from .forms import UserSettingsForm, UserTeamForm
from .teams import move_user
from .users import forget_cached_keys, get_user_or_404, save_settings, user_page

# the user page's key form has fields of the same names: the ids must differ
SETTINGS_PREFIX = "own"


def team_form(user: User) -> UserTeamForm:
    """The user's team select: every team, and no team (0)."""
    form = UserTeamForm()
    form.team.choices = [SelectChoice(0, "No team")] + [
        SelectChoice(t.id, t.name)
        for t in db.session.execute(db.select(Team).order_by(Team.name)).scalars()
    ]
    if not form.is_submitted():
        form.team.data = user.team_id or 0
    return form


def settings_form(user: User) -> UserSettingsForm:
    """The user's own settings, shown as they are."""
    form = UserSettingsForm(prefix=SETTINGS_PREFIX)
    if not form.is_submitted():
        fill_form(form, user, "user")
    return form


@bp.post("/users/<int:user_id>/team")
@login_required
def user_team(user_id: int):
    """Put the user in a team, or in none."""
    user = get_user_or_404(user_id)
    form = team_form(user)
    if not form.validate_on_submit():
        return user_page(user, team=form), 400
    team = db.session.get(Team, form.team.data) if form.team.data else None
    change = move_user(user, team)
    if change:
        record("user_updated", user.name, change)
        db.session.commit()
        forget_cached_keys()
        flash(
            f"{user.name} is now {'in team ' + team.name if team else 'in no team'}.",
            "success",
        )
    else:
        flash("Nothing to change.", "info")
    return redirect(url_for("admin.user", user_id=user.id))


@bp.post("/users/<int:user_id>/settings")
@login_required
def user_settings(user_id: int):
    """Save the user's own settings (they bound every key the user owns)."""
    user = get_user_or_404(user_id)
    form = settings_form(user)
    if not form.validate_on_submit():
        return user_page(user, settings=form), 400
    save_settings(form, user, "user", "user_updated", "User settings saved.")
    return redirect(url_for("admin.user", user_id=user.id) + "#user-settings")
