"""The portal's forms (Flask-WTF: each carries a CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField, SubmitField
from wtforms.validators import Length, Optional, ValidationError
from wtforms.widgets import TextInput

from ..admin.forms import end_of_day
from ..keyrules import expiry_refusal
from ..models import utcnow


class MyKeyForm(FlaskForm):
    """A key of one's own: a name, an expiry and models, within the team's policy
    (checked by the view: ``policy.py``)."""

    name = StringField(
        "Name",
        validators=[Optional(), Length(max=120)],
        render_kw={"placeholder": "what uses it, e.g. laptop or obsidian"},
    )
    expires = DateField(
        "Expires",
        validators=[Optional()],
        widget=TextInput(),  # ISO dates on every browser, as the admin key form
        render_kw={
            "placeholder": "YYYY-MM-DD",
            "pattern": r"\d{4}-\d{2}-\d{2}",
            "inputmode": "numeric",
        },
    )
    models = StringField(
        "Models",
        validators=[Optional(), Length(max=4000)],
        render_kw={"placeholder": "every model you may use"},
    )
    submit = SubmitField("Create key")

    def validate_expires(self, field: DateField) -> None:
        """No expiry in the past: such a key would be dead on arrival."""
        refusal = expiry_refusal(
            end_of_day(field.data) if field.data else None, utcnow()
        )
        if refusal:
            raise ValidationError(refusal)


class MyRotateForm(FlaskForm):
    """Rotate one's key: when the old secret stops working (choices: the view's)."""

    grace = SelectField("Old key stops working", default="0")
    submit = SubmitField("Rotate key")
