"""The invitation page (``/invite/<token>``): a person sets their password with a
one-time link and is signed in."""

from __future__ import annotations

from flask import Blueprint, Flask, redirect, render_template
from flask_wtf import FlaskForm
from wtforms import PasswordField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length

from ..audit import record
from ..models import utcnow
from ..web import add_security_headers
from .invitations import find_invitation
from .passwords import MIN_PASSWORD_LENGTH
from .sessions import landing_url, local_passwords, start_session

bp = Blueprint("accounts", __name__, url_prefix="/invite")
bp.after_request(add_security_headers)  # no-store: the link's page is not cached


class SetPasswordForm(FlaskForm):
    """The password a person chooses with their invitation."""

    password = PasswordField(
        "Your new password",
        validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=1024)],
        render_kw={"autocomplete": "new-password", "autofocus": True},
    )
    confirm = PasswordField(
        "Repeat it",
        validators=[EqualTo("password", message="The two do not match.")],
        render_kw={"autocomplete": "new-password"},
    )
    submit = SubmitField("Set password and sign in")


def refused(title: str, message: str, status: int):
    """The invitation page saying why the link does not work."""
    page = render_template("accounts/invite.html", title=title, message=message)
    return page, status


@bp.route("/<token>", methods=["GET", "POST"])
def invite(token: str):
    """Set a password with a one-time link, then land signed in."""
    if not local_passwords():
        return refused(
            "Passwords are turned off",
            "This gateway signs people in with the organisation's identity "
            "provider only; use the sign-in page.",
            403,
        )
    invitation = find_invitation(token)
    if invitation is None:
        return refused(
            "This link does not work",
            "It was used already, it has expired, or it was replaced by a newer "
            "one. Ask an admin for a new invitation.",
            404,
        )
    form = SetPasswordForm()
    if form.validate_on_submit():
        person = invitation.user
        person.set_password(form.password.data)  # ends any session it had
        invitation.used_at = utcnow()
        record("invite_used", person.name, admin=person)
        start_session(person, "invite")  # commits the password and the use together
        return redirect(landing_url(person))
    page = render_template(
        "accounts/invite.html", form=form, person=invitation.user, invitation=invitation
    )
    return page, 400 if form.errors else 200


def init_app(app: Flask) -> None:
    """Register the invitation page."""
    app.register_blueprint(bp)
