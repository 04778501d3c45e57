"""The admin forms (Flask-WTF: every one carries a CSRF token)."""

from __future__ import annotations

from datetime import date, datetime, time

from flask import current_app
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    PasswordField,
    SelectField,
    StringField,
    SubmitField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    EqualTo,
    Length,
    Optional,
    Regexp,
    ValidationError,
)
from wtforms.widgets import TextInput

from ..accounts.passwords import MIN_PASSWORD_LENGTH
from ..keyrules import expiry_refusal
from ..limits.admin import LimitFields
from ..models import utcnow
from ..subject_settings import form_fields

NAME_RULE = Regexp(
    # \Z, not $: "$" also matches before a final newline, so "bob\n" passed
    r"^[\w.@+-]+( [\w.@+-]+)*\Z",
    message="Letters, digits, spaces and . @ + - _ only.",
)


class LoginForm(FlaskForm):
    """Admin name and password."""

    name = StringField(
        "Name",
        validators=[DataRequired(), Length(max=80)],
        render_kw={"autocomplete": "username", "autofocus": True},
    )
    password = PasswordField(
        "Password",
        validators=[DataRequired(), Length(max=1024)],
        render_kw={"autocomplete": "current-password"},
    )
    next = HiddenField()
    submit = SubmitField("Log in")


class UserForm(FlaskForm):
    """A new user: a person or an application that will own keys."""

    name = StringField(
        "Name",
        validators=[DataRequired(), Length(max=120), NAME_RULE],
        render_kw={"placeholder": "e.g. alice or obsidian-laptop"},
    )
    submit = SubmitField("Create user")


class TeamForm(FlaskForm):
    """A new team: users whose keys share its limits and settings."""

    name = StringField(
        "Name",
        validators=[DataRequired(), Length(max=120), NAME_RULE],
        render_kw={"placeholder": "e.g. research or support"},
    )
    submit = SubmitField("Create team")


class GroupSettings:
    """What a user's or team's settings form says differently from a key's: no
    value is no bound (a key's empty rate limit is the global default)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rate_limit.render_kw = {"placeholder": "no limit of its own"}
        self.history_mode.choices = [
            SelectChoice("", "no mode of its own"),
            *self.history_mode.choices[1:],
        ]


class TeamSettingsForm(GroupSettings, form_fields("team"), FlaskForm):
    """A team's settings, one field per row of ``subject_settings.TABLE`` (each
    with its row's own check, the CLI's parse)."""

    submit = SubmitField("Save team settings")


class UserSettingsForm(GroupSettings, form_fields("user"), FlaskForm):
    """A user's settings, one field per row of ``subject_settings.TABLE``."""

    submit = SubmitField("Save user settings")


class MemberForm(FlaskForm):
    """Add a user to a team (choices set by the view: users not in it)."""

    user = SelectField("User", coerce=int, validators=[DataRequired()])
    submit = SubmitField("Add to team")


class UserTeamForm(FlaskForm):
    """Put a user in a team, or in none (choices set by the view; 0: none)."""

    team = SelectField("Team", coerce=int, default=0)
    submit = SubmitField("Save team")


class DeleteTeamForm(FlaskForm):
    """Delete a team; one with members only when its members may become
    team-less (the CLI's ``--force``)."""

    members_leave = BooleanField("Its members become team-less")
    submit = SubmitField("Delete team")


def end_of_day(day: date) -> datetime:
    """The last moment (UTC) of ``day``: a key "expiring on" a day works all day."""
    return datetime.combine(day, time.max)


class KeyForm(LimitFields, FlaskForm):
    """A key's name and expiry, and a field per per-key setting (``LimitFields``,
    made from ``subject_settings.TABLE``: a new row brings its field; render it in
    ``templates/admin/_key_settings.html``)."""

    name = StringField(
        "Name",
        validators=[Optional(), Length(max=120)],
        render_kw={"placeholder": "what uses it, e.g. obsidian"},
    )
    expires = DateField(
        "Expires",
        validators=[Optional()],
        widget=TextInput(),  # ISO dates on every browser, not the locale's mm/dd/yyyy
        render_kw={
            "placeholder": "YYYY-MM-DD (never)",
            "pattern": r"\d{4}-\d{2}-\d{2}",
            "inputmode": "numeric",
        },
    )
    app = BooleanField("App key: its calls name their end users (e.g. Open WebUI)")
    submit = SubmitField("Create key")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        gate = current_app.config["GATE"]  # hints name the defaults, not settings
        self.history_mode.choices = [
            SelectChoice("", f"default ({gate['HISTORY_MODE']})"),
            *self.history_mode.choices[1:],
        ]
        self.rate_limit.render_kw = {
            "placeholder": f"default: {gate['RATE_LIMIT'] or 'unlimited'}"
        }

    def validate_expires(self, field: DateField) -> None:
        """No expiry in the past: such a key would be dead on arrival."""
        refusal = expiry_refusal(
            end_of_day(field.data) if field.data else None, utcnow()
        )
        if refusal:  # the CLI's rule too
            raise ValidationError(refusal)


class NewKeyForm(KeyForm):
    """A key from the Keys page: for a user picked from the list, or a new one."""

    user = SelectField("User", default="")  # choices: the view's, by user id
    new_user = StringField(
        "Or a new user",
        validators=[Optional(), Length(max=120), NAME_RULE],
        render_kw={"placeholder": "e.g. alice or obsidian-laptop"},
    )

    def validate_user(self, field: SelectField) -> None:
        """One owner: a user from the list or a new name, not both, not neither."""
        if not field.data and not (self.new_user.data or "").strip():
            raise ValidationError("Pick a user, or name a new one.")
        if field.data and (self.new_user.data or "").strip():
            raise ValidationError("Pick a user or name a new one, not both.")


class NetworksForm(FlaskForm):
    """The networks, comma or space separated; empty removes them."""

    networks = StringField(
        "Trusted networks",
        validators=[Optional(), Length(max=2000)],
        render_kw={"placeholder": "e.g. 192.168.1.0/24 (none)"},
    )
    submit = SubmitField("Save networks")


class ConfirmForm(FlaskForm):
    """A form with nothing but its CSRF token: for buttons that change state."""

    submit = SubmitField("Confirm")


class RotateForm(FlaskForm):
    """Rotate a key: when the old secret stops working (choices set by the view)."""

    grace = SelectField("Old key stops working", default="1d")
    submit = SubmitField("Rotate key")


class PasswordForm(FlaskForm):
    """Change one's own password."""

    current = PasswordField(
        "Current password",
        validators=[DataRequired()],
        render_kw={"autocomplete": "current-password"},
    )
    password = PasswordField(
        "New password",
        validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=1024)],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        "Repeat the new password",
        validators=[EqualTo("password", message="The two do not match.")],
        render_kw={"autocomplete": "new-password"},
    )
    submit = SubmitField("Change password")


class AdminForm(FlaskForm):
    """A new admin account."""

    name = StringField("Name", validators=[DataRequired(), Length(max=80), NAME_RULE])
    password = PasswordField(
        "Password",
        validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=1024)],
        render_kw={"autocomplete": "new-password"},
    )
    submit = SubmitField("Create admin")
