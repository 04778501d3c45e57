"""The webhooks' form (Flask-WTF: it carries a CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional


class HookForm(FlaskForm):
    """A new webhook: its URL, the kinds it gets, and a secret (or one is made)."""

    url = StringField("URL", validators=[DataRequired(), Length(max=500)])
    kinds = StringField("Events", validators=[Optional(), Length(max=500)])
    secret = PasswordField("Secret", validators=[Optional(), Length(max=500)])
    submit = SubmitField("Add webhook")
