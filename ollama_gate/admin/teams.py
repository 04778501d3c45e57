"""Teams in the admin UI: the list (with today's and this month's usage), create,
and a page per team: members, their keys, usage against the team's quotas (one
pool), its settings (the form made from ``subject_settings.TABLE``) and delete."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import selectinload
from wtforms.fields.choices import SelectChoice

from ..accounts.roles import for_staff, forbidden_page
from ..accounts.scope import user_conditions
from ..audit import record
from ..extensions import db
from ..models import ApiKey, Team, User, utcnow
from ..subject_settings import fill_form
from .blueprint import bp
from .forms import ConfirmForm, DeleteTeamForm, MemberForm, TeamForm, TeamSettingsForm
from .teamusage import get_team_or_404, team_key_counts, team_usage
from .users import forget_cached_keys, save_settings
from .words import plural


def move_user(user: User, team: Team | None) -> str:
    """Put ``user`` in ``team`` (None: no team); the audit change, or ""."""
    before = user.team.name if user.team else "none"
    user.team = team
    after = team.name if team else "none"
    return "" if before == after else f"team: {before} → {after}"


@bp.route("/teams", methods=["GET", "POST"])
@login_required
def teams():
    """Every team with its members, keys and usage, and the form to add one."""
    form = TeamForm()
    if form.validate_on_submit():
        name = form.name.data.strip()
        if db.session.execute(db.select(Team.id).where(Team.name == name)).first():
            form.name.errors.append("A team with this name already exists.")
        else:
            team = Team(name=name)
            db.session.add(team)
            record("team_created", name)
            db.session.commit()
            flash(f"Team {name} created. Now add its members.", "success")
            return redirect(url_for("admin.team", team_id=team.id))
    rows = (
        db.session.execute(
            db.select(Team).options(selectinload(Team.members)).order_by(Team.name)
        )
        .scalars()
        .all()
    )
    usage = team_usage(utcnow())
    keys = team_key_counts()
    summaries = [
        {
            "team": t,
            "members": len(t.members),
            "key_count": keys.get(t.id, 0),
            "today": usage.get((t.id, "today"), (0, 0)),
            "month": usage.get((t.id, "month"), (0, 0)),
        }
        for t in rows
    ]
    return render_template("admin/teams.html", form=form, summaries=summaries), (
        400 if form.errors else 200
    )


@bp.route("/teams/<int:team_id>", methods=["GET", "POST"])
@login_required
@for_staff
def team(team_id: int):
    """One team: members, their keys, usage against its quotas, its settings (a
    team admin sees their own team's page, and its settings without the form: they
    are the bounds the admin set for the team)."""
    row = get_team_or_404(team_id)
    if request.method == "POST" and not current_user.is_admin:
        return forbidden_page()
    form = TeamSettingsForm()
    if form.validate_on_submit():
        save_settings(form, row, "team", "team_updated", "Team settings saved.")
        return redirect(url_for("admin.team", team_id=row.id))
    if not form.is_submitted():
        fill_form(form, row, "team")
    return team_page(row, form), (400 if form.errors else 200)


def team_page(row: Team, form: TeamSettingsForm) -> str:
    """The team page with ``form`` as its settings form."""
    member_form = MemberForm()
    member_form.user.choices = [
        SelectChoice(u.id, u.name)
        for u in db.session.execute(
            db.select(User)
            .where((User.team_id != row.id) | User.team_id.is_(None))
            .order_by(User.name)
        ).scalars()
    ]
    if not current_user.is_admin:
        member_form.user.choices = []  # moving people between teams: admins only
    keys = db.session.execute(
        db.select(ApiKey)
        .join(User, User.id == ApiKey.user_id)
        .where(User.team_id == row.id, *user_conditions(User))
        .order_by(User.name, ApiKey.id)
    ).scalars()
    return render_template(
        "admin/team.html",
        team=row,
        form=form,
        member_form=member_form,
        confirm=ConfirmForm(),
        keys=list(keys),
        now=utcnow(),
    )


@bp.post("/teams/<int:team_id>/members")
@login_required
def add_member(team_id: int):
    """Put a user in this team (they leave the team they were in)."""
    row = get_team_or_404(team_id)
    form = MemberForm()
    form.user.choices = [
        SelectChoice(u.id, u.name) for u in db.session.scalars(db.select(User))
    ]
    if not form.validate_on_submit():
        flash("Pick a user to add (or the form expired: try again).", "error")
        return redirect(url_for("admin.team", team_id=row.id))
    user = db.session.get(User, form.user.data)
    change = move_user(user, row)
    if change:
        record("user_updated", user.name, change)
        db.session.commit()
        forget_cached_keys()
        flash(f"{user.name} is now in team {row.name}.", "success")
    return redirect(url_for("admin.team", team_id=row.id))


@bp.post("/teams/<int:team_id>/members/<int:user_id>/remove")
@login_required
def remove_member(team_id: int, user_id: int):
    """Take a user out of this team (they become team-less)."""
    row = get_team_or_404(team_id)
    form = ConfirmForm()
    user = db.session.get(User, user_id)
    if form.validate_on_submit() and user is not None and user.team_id == row.id:
        record("user_updated", user.name, move_user(user, None))
        db.session.commit()
        forget_cached_keys()
        flash(f"{user.name} left team {row.name}.", "success")
    else:
        flash("Not changed: the form expired or the user is not in this team.", "error")
    return redirect(url_for("admin.team", team_id=row.id))


@bp.route("/teams/<int:team_id>/delete", methods=["GET", "POST"])
@login_required
def delete_team(team_id: int):
    """Ask, then delete a team; one with members only when the admin confirms that
    they become team-less (as the CLI's ``--force``)."""
    row = get_team_or_404(team_id)
    form = DeleteTeamForm()
    members = [u.name for u in row.members]
    refused = ""
    if form.validate_on_submit():
        if members and not form.members_leave.data:
            refused = "Tick the box to confirm its members become team-less."
        else:
            for user in list(row.members):
                user.team = None
            name = row.name
            db.session.delete(row)
            detail = f"members left team-less: {', '.join(members)}" if members else ""
            record("team_deleted", name, detail[:500])
            db.session.commit()
            forget_cached_keys()
            flash(f"Team {name} is deleted.", "success")
            return redirect(url_for("admin.teams"))
    status = 400 if refused or form.errors else 200
    return render_template(
        "admin/team_delete.html",
        team=row,
        form=form,
        members=members,
        refused=refused,
        member_words=plural(len(members), "member"),
        cache_seconds=current_app.config["GATE"]["KEY_CACHE_SECONDS"],
    ), status
