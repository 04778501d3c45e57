"""A user's trusted networks on their page: calls without a key from there act as
the user's network key (``ollama_gate/netkeys.py``)."""

from __future__ import annotations

from flask import flash, redirect, url_for
from flask_login import login_required

from ..audit import record
from ..extensions import db
from ..netkeys import set_networks
from .blueprint import bp
from .forms import NetworksForm
from .users import forget_cached_keys, get_user_or_404


@bp.post("/users/<int:user_id>/networks")
@login_required
def user_networks(user_id: int):
    """Set the user's trusted networks (and their network key)."""
    user = get_user_or_404(user_id)
    form = NetworksForm()
    if not form.validate_on_submit():
        flash(
            "The networks could not be saved: "
            + "; ".join(e for errors in form.errors.values() for e in errors),
            "error",
        )
        return redirect(url_for("admin.user", user_id=user.id))
    try:
        key, before, after = set_networks(user, form.networks.data or "")
    except ValueError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.user", user_id=user.id))
    if before == after:
        flash("Nothing to change.", "info")
        return redirect(url_for("admin.user", user_id=user.id))
    db.session.flush()
    record(
        "user_networks",
        user.name,
        f"networks: {before or 'none'} → {after or 'none'} (key {key.prefix})",
    )
    db.session.commit()
    forget_cached_keys()
    if after:
        flash(
            f"Calls without a key from {after} now act as {user.name}, through "
            f"key {key.prefix} (its limits and history).",
            "success",
        )
    else:
        flash(
            f"No trusted network for {user.name}; key {key.prefix} revoked.", "success"
        )
    return redirect(url_for("admin.user", user_id=user.id))
