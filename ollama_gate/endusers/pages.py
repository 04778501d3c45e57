"""The people behind app keys in the admin UI: a searchable list, a page per person
(usage, history link, settings form) and each app key's per-person defaults."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import SubmitField

from ..admin.blueprint import bp
from ..audit import record
from ..extensions import db
from ..models import ApiKey, User
from ..subject_settings import apply_form, diff, fill_form, form_fields, rows_for
from ..subject_settings import snapshot as settings_snapshot
from .models import EndUser
from .people import app_key_of, defaults_for, people_query, usage_of

MAX_ID = 2**31 - 1
PAGE = 200


class EndUserForm(form_fields("end_user"), FlaskForm):
    """A person's (or an app key's per-person defaults') own settings."""

    submit = SubmitField("Save settings")


def forget_people() -> None:
    """This worker applies a change at once (others within KEY_CACHE_SECONDS)."""
    state = current_app.extensions.get("ollama_gate_endusers")
    if state is not None:
        state.directory.clear()


@bp.get("/people")
@login_required
def end_users():
    """End users, most recently seen first; search in id, name and email."""
    user = request.args.get("user", "").strip()[:120]
    search = request.args.get("q", "").strip()[:200]
    prefix = request.args.get("key", "").strip()[:16]
    key_id = None
    if prefix:
        key = db.session.execute(
            db.select(ApiKey).where(ApiKey.prefix == prefix)
        ).scalar_one_or_none()
        key_id = key.limits_id if key is not None else -1
    rows = db.session.execute(people_query(user, search, key_id).limit(PAGE)).all()
    app_keys = db.session.execute(
        db.select(ApiKey, User.name)
        .join(User, User.id == ApiKey.user_id)
        .where(ApiKey.app.is_(True), ApiKey.revoked_at.is_(None))
        .order_by(User.name, ApiKey.id)
    ).all()
    return render_template(
        "admin/end_users.html",
        rows=rows,
        user=user,
        q=search,
        key=prefix,
        app_keys=app_keys,
        page_size=PAGE,
    )


def _person_or_404(end_user_id: int) -> EndUser:
    person = db.session.get(EndUser, end_user_id) if end_user_id <= MAX_ID else None
    if person is None:
        abort(404)
    return person


def _save(form: EndUserForm, person: EndUser) -> bool:
    """Store a validated form on ``person``; audit what changed. True if anything."""
    before = settings_snapshot(person, "end_user")
    apply_form(form, person, "end_user")
    changes = diff(before, person, "end_user")
    if changes:
        key = app_key_of(person)
        target = f"{person.label} ({key.prefix if key else 'deleted key'})"
        record("end_user_updated", target[:200], ", ".join(changes))
    db.session.commit()
    forget_people()
    return bool(changes)


@bp.route("/people/<int:end_user_id>", methods=["GET", "POST"])
@login_required
def end_user(end_user_id: int):
    """One person: who, their usage, their calls, their settings."""
    person = _person_or_404(end_user_id)
    form = EndUserForm()
    if form.validate_on_submit():
        changed = _save(form, person)
        flash("Settings saved." if changed else "Nothing to change.", "success")
        return redirect(url_for("admin.end_user", end_user_id=person.id))
    if not form.is_submitted():
        fill_form(form, person, "end_user")
    key = app_key_of(person)
    return render_template(
        "admin/end_user.html",
        person=person,
        key=key,
        form=form,
        rows=rows_for("end_user"),
        usage=usage_of(person),
    ), (400 if form.errors else 200)


@bp.route("/keys/<int:key_id>/people-defaults", methods=["GET", "POST"])
@login_required
def end_user_defaults(key_id: int):
    """An app key's per-person defaults: what a person gets for each setting they
    do not set (the row is made at the first save)."""
    key = db.session.get(ApiKey, key_id) if key_id <= MAX_ID else None
    if key is None or not key.app:
        abort(404)
    form = EndUserForm()
    if form.validate_on_submit():
        changed = _save(form, defaults_for(key, create=True))
        flash("Defaults saved." if changed else "Nothing to change.", "success")
        return redirect(url_for("admin.end_user_defaults", key_id=key.id))
    person = defaults_for(key)
    if not form.is_submitted() and person is not None:
        fill_form(form, person, "end_user")
    return render_template(
        "admin/end_user.html",
        person=person,
        key=key,
        form=form,
        rows=rows_for("end_user"),
        usage=[],
        defaults=True,
    ), (400 if form.errors else 200)
