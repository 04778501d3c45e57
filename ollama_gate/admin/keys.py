"""The token manager: change, disable, enable, revoke a key (handout.py creates and
rotates them)."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_login import login_required

from ..accounts.roles import for_staff
from ..accounts.scope import may_manage, scoped
from ..audit import record
from ..changes import change_detail, diff, snapshot
from ..extensions import db
from ..keyrules import allowlist_warning
from ..limits.admin import apply_limit_form, fill_limit_fields
from ..models import ApiKey, utcnow
from . import teamrules
from .blueprint import bp
from .fleet import fleet_model_names
from .forms import ConfirmForm, KeyForm, end_of_day
from .users import MAX_ID, forget_cached_keys
from .words import within


def get_key_or_404(key_id: int) -> ApiKey:
    """The key with ``key_id``, or a 404 page (also for a key whose owner a team
    admin does not administer)."""
    key = db.session.get(ApiKey, key_id) if key_id <= MAX_ID else None
    if key is None or not may_manage(key.user):
        abort(404)
    return key


def apply_key_form(form: KeyForm, key: ApiKey) -> list[str]:
    """Copy the form's values onto ``key``; return what changed, for the audit log.

    The per-key settings of the limits work are stored here too.
    """
    before = snapshot(key)
    key.name = (form.name.data or "").strip()
    key.expires_at = end_of_day(form.expires.data) if form.expires.data else None
    key.app = bool(form.app.data)
    # every per-key setting: history, limits, weight. Not a team admin's: a key's
    # history mode or queue weight would override what the admin set for the team
    if not scoped():
        apply_limit_form(form, key)
    return diff(before, key)


def warn_unmatched(key: ApiKey) -> None:
    """Flash a warning for each allowlist pattern that no fleet model matches."""
    warning = allowlist_warning(key.model_allowlist)  # the CLI's rule too
    if warning:
        flash(warning, "warning")


def cache_seconds() -> float:
    """How long a worker may still accept a changed key (KEY_CACHE_SECONDS)."""
    return current_app.config["GATE"]["KEY_CACHE_SECONDS"]


@bp.route("/keys/<int:key_id>", methods=["GET", "POST"])
@login_required
@for_staff
def key(key_id: int):
    """One key: its details, its settings form, and its actions."""
    row = get_key_or_404(key_id)
    form = KeyForm(obj=None)
    if form.validate_on_submit():
        if row.state(utcnow()) == "revoked":
            flash("A revoked key cannot be changed.", "error")
            return redirect(url_for("admin.key", key_id=row.id))
        if teamrules.refused(row.user, form, adding=0):
            return key_page(row, form), 403
        changes = apply_key_form(form, row)
        if changes:
            record("key_updated", row.prefix, ", ".join(changes))
            db.session.commit()
            forget_cached_keys()
            flash("Key saved.", "success")
            warn_unmatched(row)
        else:
            flash("Nothing to change.", "info")
        return redirect(url_for("admin.key", key_id=row.id))
    if not form.is_submitted():
        form.name.data = row.name
        form.expires.data = row.expires_at.date() if row.expires_at else None
        form.app.data = row.app
        fill_limit_fields(form, row)
    return key_page(row, form), 400 if form.errors else 200


def key_page(row: ApiKey, form: KeyForm) -> str:
    """The key's page with ``form`` (its errors shown)."""
    return render_template(
        "admin/key.html",
        key=row,
        form=form,
        confirm=ConfirmForm(),
        now=utcnow(),
        cache_seconds=cache_seconds(),
        fleet_models=fleet_model_names(),
    )


def _set_disabled(key_id: int, disabled: bool):
    """Disable or re-enable a key, and say when it takes effect."""
    row = get_key_or_404(key_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    if row.state(utcnow()) == "revoked":
        flash("This key is revoked; that cannot be undone.", "error")
    elif row.disabled != disabled:
        before = {"state": row.state(utcnow())}
        row.disabled = disabled
        record(
            "key_disabled" if disabled else "key_enabled",
            f"{row.prefix} ({row.user.name})",
            change_detail(before, {"state": row.state(utcnow())}),
        )
        db.session.commit()
        forget_cached_keys()
        verb = "disabled" if disabled else "enabled again"
        flash(
            f"Key {row.prefix} {verb}; every worker applies this "
            f"{within(cache_seconds())}.",
            "success",
        )
    return redirect(url_for("admin.user", user_id=row.user_id))


@bp.post("/keys/<int:key_id>/disable")
@login_required
@for_staff
def disable_key(key_id: int):
    """Disable a key (reversible)."""
    return _set_disabled(key_id, True)


@bp.post("/keys/<int:key_id>/enable")
@login_required
@for_staff
def enable_key(key_id: int):
    """Re-enable a disabled key."""
    return _set_disabled(key_id, False)


@bp.route("/keys/<int:key_id>/revoke", methods=["GET", "POST"])
@login_required
@for_staff
def revoke_key(key_id: int):
    """Ask, then revoke a key for good."""
    row = get_key_or_404(key_id)
    form = ConfirmForm()
    if row.state(utcnow()) == "revoked":
        flash(f"Key {row.prefix} is already revoked.", "info")
        return redirect(url_for("admin.user", user_id=row.user_id))
    if form.validate_on_submit():
        before = {"state": row.state(utcnow())}
        row.revoked_at = utcnow()
        record(
            "key_revoked",
            f"{row.prefix} ({row.user.name})",
            change_detail(before, {"state": "revoked"}),
        )
        db.session.commit()
        forget_cached_keys()
        flash(
            f"Key {row.prefix} revoked; every worker refuses it "
            f"{within(cache_seconds())}.",
            "success",
        )
        return redirect(url_for("admin.user", user_id=row.user_id))
    label = f"{row.prefix}…" + (f" ({row.name})" if row.name else "")
    return render_template(
        "admin/confirm.html",
        form=form,
        title=f"Revoke key {label}?",
        message=f"Apps using this key of {row.user.name} will be refused. "
        "Revoking cannot be undone; to pause a key instead, disable it.",
        button="Revoke key",
        cancel=url_for("admin.key", key_id=row.id),
        cache_seconds=cache_seconds(),
    )
