"""Logging in and out, and changing one's own password."""

from __future__ import annotations

import time

from flask import (
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.exceptions import TooManyRequests

from ..attempts import TooManyAttempts, count_attempt, give_back
from ..audit import record
from ..extensions import db
from ..models import utcnow
from ..web import is_safe_next
from .audit import unknown_name
from .blueprint import bp
from .forms import LoginForm, PasswordForm
from .models import Admin, burn_password_check, new_session_token

LOGIN_AT = "login_at"  # in the session: when it began (Unix time)


def login_limit() -> str:
    """The login attempt limit per client address (a setting)."""
    return current_app.config["GATE"]["LOGIN_RATE_LIMIT"]


def _next_url(target: str | None) -> str:
    """Where to go after logging in: ``target`` if on this site, else the users page."""
    return target if is_safe_next(target) else url_for("admin.overview")


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The login form; too many failures from one address lock it out for a while."""
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
        if current_user.is_authenticated:
            return redirect(_next_url(form.next.data))
    else:
        try:  # counted before the password is checked: parallel guesses too
            attempt = count_attempt("login", login_limit())
        except TooManyAttempts as exc:
            raise TooManyRequests(retry_after=exc.retry_after) from None
    if form.validate_on_submit():
        admin = db.session.execute(
            db.select(Admin).where(Admin.name == form.name.data)
        ).scalar_one_or_none()
        if admin is None:
            burn_password_check(form.password.data)
        elif admin.check_password(form.password.data):
            session.clear()  # nothing from before the login survives it
            login_user(admin)
            session.permanent = True
            session[LOGIN_AT] = time.time()  # for the absolute lifetime
            admin.last_login_at = utcnow()
            record("login", admin=admin)
            db.session.commit()
            give_back(attempt)  # only failures lock an address out
            return redirect(_next_url(form.next.data))
        target = admin.name if admin is not None else unknown_name(form.name.data)
        record("login_failed", target=target, admin_name="")
        db.session.commit()
        flash("Wrong name or password.", "error")
        return render_template("admin/login.html", form=form), 401
    return render_template(
        "admin/login.html", form=form
    ), 200 if request.method == "GET" else 400


@bp.errorhandler(429)
def too_many_logins(exc):
    """The login form, locked for this address until the limit's window passes."""
    retry = getattr(exc, "retry_after", None) or 60
    page = render_template(
        "admin/login.html", form=LoginForm(), locked=True, retry_after=retry
    )
    return page, 429, {"Retry-After": str(retry)}


@bp.post("/logout")
@login_required
def logout():
    """End the session, on the server too: a copy of the cookie stops working."""
    record("logout")
    # the session id holds the admin's session token: a new one ends every session
    # of this admin (cookies are signed, not stored, so one alone cannot be revoked)
    current_user.session_token = new_session_token()
    db.session.commit()
    logout_user()
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("admin.login"))


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    """Change one's own password (which ends one's other sessions)."""
    form = PasswordForm()
    if form.validate_on_submit():
        admin: Admin = current_user._get_current_object()
        if not admin.check_password(form.current.data):
            form.current.errors.append("That is not your current password.")
        else:
            admin.set_password(form.password.data)
            record("password_changed", admin.name)
            db.session.commit()
            login_user(admin)  # the session id changed with the password: keep this one
            session[LOGIN_AT] = time.time()
            flash("Password changed; your other sessions have ended.", "success")
            return redirect(url_for("admin.account"))
    return render_template("admin/account.html", form=form)
