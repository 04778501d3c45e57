"""Users (people or apps that own keys): list, create, show with their keys, delete."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import (
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import login_required
from sqlalchemy.orm import selectinload

from ..accounts.roles import for_staff
from ..accounts.scope import NO_TEAM, managed_team_id, may_manage, user_conditions
from ..audit import record
from ..extensions import db
from ..models import ApiKey, Team, User, utcnow
from ..netkeys import network_key
from ..subject_settings import apply_form, diff, snapshot
from .audit import page_arg
from .blueprint import bp
from .fleet import fleet_model_names
from .forms import ConfirmForm, KeyForm, NetworksForm, UserForm
from .sorting import sort_arg
from .words import plural

PAGE_SIZE = 100
NEVER = datetime.min  # sorts empty times first (last, descending)
KEY_SORTS = {  # the user page's key table: sort name -> key of sorted()
    "created": lambda k: k.id,
    "last_used": lambda k: k.last_used_at or NEVER,
    "expires": lambda k: k.expires_at or datetime.max,
    "name": lambda k: k.name.lower(),
}
MAX_ID = 2**63 - 1  # larger ids in a URL overflow the database driver: 404, not 500


def get_user_or_404(user_id: int) -> User:
    """The user with ``user_id``, or a 404 page (also for a user outside the team
    a team admin administers: for them, it does not exist)."""
    user = db.session.get(User, user_id) if user_id <= MAX_ID else None
    if user is None or not may_manage(user):
        abort(404)
    return user


def forget_cached_keys() -> None:
    """Make this worker see key changes at once (others within KEY_CACHE_SECONDS)."""
    current_app.extensions["ollama_gate"].key_cache.clear()


def save_settings(form, row, kind: str, action: str, saved: str) -> None:
    """Apply a validated settings form to ``row`` (a user or team), audit what it
    changed as ``action``, and say so (``saved``) or that nothing changed."""
    before = snapshot(row, kind)
    apply_form(form, row, kind)
    changes = diff(before, row, kind)
    if changes:
        record(action, row.name, ", ".join(changes))
        db.session.commit()
        forget_cached_keys()
        flash(saved, "success")
    else:
        flash("Nothing to change.", "info")


@bp.get("/")
def index():
    """The admin home is the overview (``history.overview``: it reads history)."""
    return redirect(url_for("admin.overview"))


@bp.route("/users", methods=["GET", "POST"])
@login_required
@for_staff
def users():
    """Every user with key counts and last use, and the form to add one (for a team
    admin: their team's accounts, and a new one joins their team as a member)."""
    form = UserForm()
    if form.validate_on_submit():
        name = form.name.data.strip()
        team = managed_team_id()  # None for an admin: the new user is in no team
        if team == NO_TEAM:
            form.name.errors.append("You administer no team; ask an admin.")
        elif db.session.execute(db.select(User.id).where(User.name == name)).first():
            form.name.errors.append("A user with this name already exists.")
        else:
            # a team admin's new user joins their team, as a member (the default)
            user = User(name=name, team=db.session.get(Team, team) if team else None)
            db.session.add(user)
            record("user_created", name, f"team {user.team.name}" if team else "")
            db.session.commit()
            flash(f"User {name} created. Now create a key for them.", "success")
            return redirect(url_for("admin.user", user_id=user.id))
    search = request.args.get("q", "").strip()[:120]
    last_used = (
        db.select(db.func.max(ApiKey.last_used_at))
        .where(ApiKey.user_id == User.id)
        .scalar_subquery()
    )
    key_count = (
        db.select(db.func.count(ApiKey.id))
        .where(ApiKey.user_id == User.id)
        .scalar_subquery()
    )
    sort, order = sort_arg(
        {
            "name": db.func.lower(User.name),
            "created": User.created_at,
            "last_used": last_used,
            "keys": key_count,
            "team": db.select(Team.name)
            .where(Team.id == User.team_id)
            .scalar_subquery(),
        },
        "name",
    )
    query = (
        db.select(User)
        .options(selectinload(User.keys), selectinload(User.team))
        .where(*user_conditions(User))
        .order_by(*order, User.name)
    )
    if search:
        query = query.where(User.name.icontains(search, autoescape=True))
    page = db.paginate(query, page=page_arg(), per_page=PAGE_SIZE, error_out=False)
    rows = page.items
    now = utcnow()
    summaries = [
        {
            "user": u,
            "total": len(u.keys),
            "active": sum(1 for k in u.keys if k.state(now) == "active"),
            "last_used": max(
                (k.last_used_at for k in u.keys if k.last_used_at), default=None
            ),
        }
        for u in rows
    ]
    status = 400 if form.errors else 200
    return render_template(
        "admin/users.html",
        form=form,
        summaries=summaries,
        page=page,
        search=search,
        sort=sort,
    ), status


@bp.get("/users/<int:user_id>")
@login_required
@for_staff
def user(user_id: int):
    """One user's keys, and the form to create a key for them."""
    return user_page(get_user_or_404(user_id), KeyForm())


def user_page(
    owner: User, form: KeyForm | None = None, team: Any = None, settings: Any = None
) -> str:
    """The user page with ``form`` as its create-key form, ``team`` its team form
    and ``settings`` its settings form (fresh, or with errors)."""
    from .userteam import settings_form, team_form  # it imports this module

    form = form or KeyForm()
    net_key = network_key(owner)
    net_form = NetworksForm()
    net_form.networks.data = (
        (net_key.networks or "").replace(",", ", ") if net_key else ""
    )
    sort = request.args.get("sort", "-created")
    if sort.removeprefix("-") not in KEY_SORTS:
        sort = "-created"
    keys = sorted(owner.keys, key=KEY_SORTS[sort.removeprefix("-")])
    if sort.startswith("-"):
        keys.reverse()
    return render_template(
        "admin/user.html",
        user=owner,
        keys=keys,
        sort=sort,
        form=form,
        now=utcnow(),
        confirm=ConfirmForm(),
        fleet_models=fleet_model_names(),
        net_key=net_key,
        net_form=net_form,
        team_form=team or team_form(owner),
        settings_form=settings or settings_form(owner),
    )


@bp.route("/users/<int:user_id>/delete", methods=["GET", "POST"])
@login_required
def delete_user(user_id: int):
    """Ask, then delete a user and all their keys."""
    owner = get_user_or_404(user_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        name, count = owner.name, len(owner.keys)
        db.session.delete(owner)
        record("user_deleted", name, f"with {plural(count, 'key')}")
        db.session.commit()
        forget_cached_keys()
        flash(f"User {name} is deleted, with {plural(count, 'key')}.", "success")
        return redirect(url_for("admin.users"))
    return render_template(
        "admin/confirm.html",
        form=form,
        title=f"Delete user {owner.name}?",
        message=f"This deletes {owner.name} and all {len(owner.keys)} of their keys. "
        "Apps using those keys stop working. This cannot be undone.",
        button="Delete user",
        cancel=url_for("admin.user", user_id=owner.id),
        cache_seconds=current_app.config["GATE"]["KEY_CACHE_SECONDS"],
    )
