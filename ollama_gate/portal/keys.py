"""A person's own keys: create within their team's policy, see the secret once,
rotate, revoke. Every action is audited with the person as its actor, as the admin
pages audit theirs; another person's key is a 404 (``my_key_or_404``)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_login import login_required

from ..accounts import policy as rules
from ..admin.forms import ConfirmForm, end_of_day
from ..admin.handout import COPIED, GRACES, created_page, hold_secret
from ..admin.keys import cache_seconds, warn_unmatched
from ..admin.users import forget_cached_keys
from ..admin.words import within
from ..audit import record
from ..changes import change_detail
from ..extensions import db
from ..keys import create_key, split_list
from ..models import utcnow
from .blueprint import bp, me, my_key_or_404
from .forms import MyKeyForm, MyRotateForm
from .pages import index_page


def lock(person) -> None:
    """Hold the person's row until the commit, so that two requests at once cannot
    both count one key too few (PostgreSQL; SQLite writes one at a time anyway)."""
    db.session.refresh(person, with_for_update=True)


@bp.post("/keys")
@login_required
def create():
    """Make a key of one's own within the policy; then its one-time page."""
    person, form = me(), MyKeyForm()
    if not form.validate_on_submit():
        return index_page(form), 400
    lock(person)
    now = utcnow()
    policy = rules.policy_for(person)
    picks = split_list(form.models.data)
    too_many = rules.keys_refusal(policy, len(rules.active_keys(person, now)))
    refusals = [
        (form.expires, rules.expiry_refusal(policy, form.expires.data, now.date())),
        (form.models, rules.models_refusal(policy, picks)),
    ]
    for field, refusal in refusals:
        if refusal:
            field.errors = [*field.errors, refusal]
    reasons = [r for r in (too_many, *(r for _, r in refusals)) if r]
    if reasons:  # refused by the policy: said on the form, and audited
        record("key_refused", person.name, "portal: " + "; ".join(reasons)[:480])
        db.session.commit()
        return index_page(form, too_many), 403
    key, plain = create_key(
        person,
        (form.name.data or "").strip(),
        end_of_day(form.expires.data) if form.expires.data else None,
    )
    key.model_allowlist = rules.key_allowlist(policy, picks)
    db.session.flush()
    detail = f"{key.name or 'no name'}; expires {form.expires.data or 'never'}"
    if key.model_allowlist:
        detail += f"; models {key.model_allowlist}"
    record("key_created", f"{key.prefix} ({person.name})", f"portal: {detail}"[:500])
    db.session.commit()
    hold_secret(key.id, plain)
    warn_unmatched(key)
    return redirect(url_for("portal.key_created", key_id=key.id), 303)


@bp.get("/keys/<int:key_id>/created")
@login_required
def key_created(key_id: int):
    """The new key's secret (first view only) and ready-to-copy settings."""
    return created_page("portal/key_created.html", my_key_or_404(key_id))


@bp.route("/keys/<int:key_id>/rotate", methods=["GET", "POST"])
@login_required
def rotate(key_id: int):
    """A new secret with the same settings; the old one revoked at once or after a
    grace period (which holds one more active key until it ends)."""
    old, person = my_key_or_404(key_id), me()
    now = utcnow()
    if old.state(now) != "active" or old.revoke_at is not None:
        flash(f"Key {old.prefix} is not active, or rotated already.", "error")
        return redirect(url_for("portal.index"))
    form = MyRotateForm()
    form.grace.choices = [(value, label) for value, (label, _) in GRACES.items()]
    if form.validate_on_submit():
        label, delay = GRACES[form.grace.data]
        lock(person)
        policy = rules.policy_for(person)
        refusal = (
            rules.keys_refusal(policy, len(rules.active_keys(person, now)))
            if delay
            else None
        )
        if refusal:
            form.grace.errors = [f"{refusal} Or rotate it at once."]
            return render_template("portal/rotate.html", key=old, form=form), 403
        new, plain = create_key(person)
        for column in COPIED:
            setattr(new, column, getattr(old, column))
        new.limits_key_id = old.limits_id  # one identity, two secrets
        if delay:
            old.revoke_at = now + delay
        else:
            old.revoked_at = now
        db.session.flush()
        record(
            "key_rotated",
            f"{old.prefix} ({person.name})",
            f"portal: replaced by {new.prefix}; old key revoked {label} "
            f"({now + delay:%Y-%m-%d %H:%M} UTC)",
        )
        db.session.commit()
        forget_cached_keys()
        hold_secret(new.id, plain)
        return redirect(url_for("portal.key_created", key_id=new.id), 303)
    if form.is_submitted():
        abort(400)
    return render_template("portal/rotate.html", key=old, form=form)


@bp.route("/keys/<int:key_id>/revoke", methods=["GET", "POST"])
@login_required
def revoke(key_id: int):
    """Ask, then revoke one's key for good."""
    row, person = my_key_or_404(key_id), me()
    if row.state(utcnow()) == "revoked":
        flash(f"Key {row.prefix} is already revoked.", "info")
        return redirect(url_for("portal.index"))
    form = ConfirmForm()
    if form.validate_on_submit():
        before = {"state": row.state(utcnow())}
        row.revoked_at = utcnow()
        record(
            "key_revoked",
            f"{row.prefix} ({person.name})",
            "portal: " + change_detail(before, {"state": "revoked"}),
        )
        db.session.commit()
        forget_cached_keys()
        flash(
            f"Key {row.prefix} revoked; the gateway refuses it "
            f"{within(cache_seconds())}.",
            "success",
        )
        return redirect(url_for("portal.index"))
    label = f"{row.prefix}…" + (f" ({row.name})" if row.name else "")
    return render_template(
        "admin/confirm.html",
        form=form,
        title=f"Revoke key {label}?",
        message="Apps using this key will be refused. Revoking cannot be undone.",
        button="Revoke key",
        cancel=url_for("portal.index"),
        cache_seconds=None,  # the admin's settings page: not a member's
    )
