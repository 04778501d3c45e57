"""Logging in and out, and changing one's own password."""

from __future__ import annotations

from flask import (
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from werkzeug.exceptions import TooManyRequests

from ..accounts.passwords import burn_password_check
from ..accounts.roles import for_everyone
from ..accounts.sessions import (
    end_session,
    keep_session_after_password_change,
    landing_url,
    local_passwords,
    start_session,
)
from ..attempts import TooManyAttempts, count_attempt, give_back
from ..audit import record
from ..extensions import db
from ..models import User
from ..oidc.logout import provider_logout_url, signing_out_page
from ..web import is_safe_next
from .audit import unknown_name
from .blueprint import bp
from .forms import LoginForm, PasswordForm


def login_limit() -> str:
    """The login attempt limit per client address (a setting)."""
    return current_app.config["GATE"]["LOGIN_RATE_LIMIT"]


def _next_url(target: str | None, user) -> str:
    """Where to go after logging in: ``target`` if on this site, else the landing
    page of the account's role (admin pages or the portal)."""
    return target if is_safe_next(target) else landing_url(user)


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The login form; too many failures from one address lock it out for a while."""
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
        if current_user.is_authenticated:
            return redirect(_next_url(form.next.data, current_user))
    elif not local_passwords():  # turned off: the form is hidden, and refused
        page = render_template("admin/login.html", form=form)
        return page, 403
    else:
        try:  # counted before the password is checked: parallel guesses too
            attempt = count_attempt("login", login_limit())
        except TooManyAttempts as exc:
            raise TooManyRequests(retry_after=exc.retry_after) from None
    if form.validate_on_submit():
        admin = db.session.execute(
            db.select(User).where(User.name == form.name.data)
        ).scalar_one_or_none()
        if admin is None:
            burn_password_check(form.password.data)
        elif admin.check_password(form.password.data):
            start_session(admin, "password")
            give_back(attempt)  # only failures lock an address out
            return redirect(_next_url(form.next.data, admin))
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
@for_everyone
def logout():
    """End the session, on the server too: a copy of the cookie stops working."""
    record("logout")
    # the session id holds the account's session token: a new one ends every session
    # of this account (cookies are signed, not stored, so one alone cannot be revoked)
    provider = provider_logout_url()  # read before the session (its ID token) ends
    end_session()  # commits the audit entry with it
    if provider:  # signed in with the identity provider: out of it too
        return signing_out_page(provider)
    flash("You are logged out.", "info")
    return redirect(url_for("admin.login"))


@bp.route("/account", methods=["GET", "POST"])
@login_required
@for_everyone
def account():
    """Change one's own password (which ends one's other sessions)."""
    form = PasswordForm()
    if current_user.password_hash is None:  # signs in through the identity provider
        if request.method == "POST":
            return render_template("admin/account.html", form=None), 400
        return render_template("admin/account.html", form=None)
    if form.validate_on_submit():
        admin: User = current_user._get_current_object()
        if not admin.check_password(form.current.data):
            form.current.errors.append("That is not your current password.")
        else:
            admin.set_password(form.password.data)
            record("password_changed", admin.name)
            db.session.commit()
            keep_session_after_password_change(admin)
            flash("Password changed; your other sessions have ended.", "success")
            return redirect(url_for("admin.account"))
    return render_template("admin/account.html", form=form)
