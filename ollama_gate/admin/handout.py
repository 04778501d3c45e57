"""Handing out keys: create or rotate a key, then show its secret once, on a page of
its own (POST, redirect, GET), so a reload shows the page again but mints nothing.

Between the POST and the GET the secret waits in the session cookie, encrypted with
a key derived from SECRET_KEY (the cookie is only signed, and readable), and it is
dropped at the first view or after ``HOLD_SECONDS``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import timedelta

from flask import (
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import login_required

from ..accounts.roles import for_staff
from ..audit import record
from ..extensions import db
from ..keys import create_key
from ..models import utcnow
from ..subject_settings import COPIED as COPIED_SETTINGS
from . import teamrules
from .blueprint import bp
from .forms import KeyForm, RotateForm
from .keys import apply_key_form, cache_seconds, get_key_or_404, warn_unmatched
from .summary import key_summary
from .users import forget_cached_keys, get_user_or_404, user_page

HELD = "new_key"
HOLD_SECONDS = 600  # a secret not looked at within ten minutes is gone
# every setting a rotated key takes over from the key it replaces: its name and
# expiry, and each per-subject setting whose row says so
COPIED = ("name", "expires_at", "app", *COPIED_SETTINGS)


def _keystream(nonce: bytes, size: int) -> bytes:
    """HMAC-SHA256 in counter mode keyed by SECRET_KEY: a pad for ``nonce``."""
    secret = str(current_app.secret_key).encode()
    blocks = (
        hmac.new(secret, b"one-time-key:" + nonce + bytes([i]), hashlib.sha256).digest()
        for i in range(size // 32 + 1)
    )
    return b"".join(blocks)[:size]


def _xor(data: bytes, pad: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(data, pad, strict=True))


def hold_secret(key_id: int, plain: str) -> None:
    """Keep ``plain`` for the next view of the key's one-time page."""
    data = plain.encode()
    nonce = secrets.token_bytes(16)
    sealed = _xor(data, _keystream(nonce, len(data)))
    session[HELD] = {
        "id": key_id,
        "n": nonce.hex(),
        "s": sealed.hex(),
        "t": time.time(),
    }


def take_secret(key_id: int) -> str | None:
    """The held secret of ``key_id``, once; None if shown, stale or another's."""
    held = session.get(HELD)
    if not isinstance(held, dict) or held.get("id") != key_id:
        return None
    session.pop(HELD)
    if time.time() - float(held.get("t", 0)) > HOLD_SECONDS:
        return None
    sealed, nonce = bytes.fromhex(held["s"]), bytes.fromhex(held["n"])
    return _xor(sealed, _keystream(nonce, len(sealed))).decode()


@bp.post("/users/<int:user_id>/keys")
@login_required
@for_staff
def create_user_key(user_id: int):
    """Create a key, then send the browser to the page that shows it once."""
    owner = get_user_or_404(user_id)
    form = KeyForm()
    if not form.validate_on_submit():
        return user_page(owner, form), 400
    if teamrules.refused(owner, form, adding=1):
        return user_page(owner, form), 403
    return hand_out(owner, form)


def hand_out(owner, form):
    """Make ``owner`` a key from a valid key form, audited, then send the browser to
    the page that shows its secret once (the user page's form and *New key*)."""
    key, plain = create_key(owner)
    apply_key_form(form, key)
    teamrules.narrow(owner, key)
    db.session.flush()
    detail = f"{key.name} (app key)".strip() if key.app else key.name
    record("key_created", f"{key.prefix} ({owner.name})", detail)
    db.session.commit()
    hold_secret(key.id, plain)
    warn_unmatched(key)
    return redirect(url_for("admin.key_created", key_id=key.id), 303)


def base_urls() -> dict[str, str]:
    """The addresses clients use, as this request reached the gateway."""
    root = request.host_url.rstrip("/")
    return {"root": root, "v1": root + "/v1"}


@bp.get("/keys/<int:key_id>/created")
@login_required
@for_staff
def key_created(key_id: int):
    """The new key's secret (first view only), ready-to-copy settings, its limits."""
    key = get_key_or_404(key_id)
    return created_page("admin/key_created.html", key, user=key.user)


def created_page(template: str, key, **extra):
    """The one-time page of a new key: its secret on the first view (410 after),
    the settings to copy, what it may do; the admin's and the portal's."""
    plain = take_secret(key.id)
    return render_template(
        template,
        key=key,
        plain=plain,
        urls=base_urls(),
        summary=key_summary(key),
        **extra,
    ), (200 if plain else 410)


GRACES = {  # form value: (label, delay)
    "0": ("at once", timedelta(0)),
    "1h": ("in 1 hour", timedelta(hours=1)),
    "1d": ("in 1 day", timedelta(days=1)),
    "7d": ("in 7 days", timedelta(days=7)),
    "30d": ("in 30 days", timedelta(days=30)),
}


@bp.route("/keys/<int:key_id>/rotate", methods=["GET", "POST"])
@login_required
@for_staff
def rotate_key(key_id: int):
    """A new secret with the same settings; the old one revoked after a grace period."""
    old = get_key_or_404(key_id)
    if old.state(utcnow()) == "revoked" or old.revoke_at is not None:
        flash(f"Key {old.prefix} is revoked or rotated already.", "error")
        return redirect(url_for("admin.key", key_id=old.id))
    form = RotateForm()
    form.grace.choices = [(value, label) for value, (label, _) in GRACES.items()]
    if form.validate_on_submit():
        label, delay = GRACES[form.grace.data]
        new, plain = create_key(old.user)
        for column in COPIED:
            setattr(new, column, getattr(old, column))
        # one identity, two secrets: the new one's limits count on from the old one's
        new.limits_key_id = old.limits_id
        now = utcnow()
        if delay:
            old.revoke_at = now + delay
        else:
            old.revoked_at = now
        db.session.flush()
        record(
            "key_rotated",
            f"{old.prefix} ({old.user.name})",
            f"replaced by {new.prefix}; old key revoked {label} "
            f"({now + delay:%Y-%m-%d %H:%M} UTC)",
        )
        db.session.commit()
        forget_cached_keys()
        hold_secret(new.id, plain)
        return redirect(url_for("admin.key_created", key_id=new.id), 303)
    if form.is_submitted():
        abort(400)
    return render_template(
        "admin/rotate.html", key=old, form=form, cache_seconds=cache_seconds()
    )
