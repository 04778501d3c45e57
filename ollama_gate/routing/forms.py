"""The backends page's forms (CSRF-protected; checked again in ``manage``)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, PasswordField, StringField, SubmitField
from wtforms.validators import URL, DataRequired, Length, NumberRange, Optional


class BackendForm(FlaskForm):
    """Add a backend, or change one (the name is then fixed)."""

    name = StringField(
        "Name",
        validators=[DataRequired(), Length(max=64)],
        render_kw={"placeholder": "gpu2"},
    )
    url = StringField(
        "URL",
        validators=[DataRequired(), URL(require_tld=False), Length(max=300)],
        render_kw={"placeholder": "http://192.168.1.20:11434"},
    )
    token = PasswordField(
        "Bearer token",
        validators=[Optional(), Length(max=2000)],
        render_kw={"placeholder": "if it needs one"},
    )
    weight = IntegerField("Weight", validators=[Optional(), NumberRange(1, 1000)])
    parallel = IntegerField(
        "Parallel calls per model", validators=[Optional(), NumberRange(0, 10000)]
    )
    max_loaded = IntegerField(
        "Models loaded at once", validators=[Optional(), NumberRange(0, 1000)]
    )
    submit = SubmitField("Add backend")


class EditBackendForm(FlaskForm):
    """Change a backend: everything ``ollama-gate backends set`` can change."""

    url = BackendForm.url
    token = PasswordField(
        "New bearer token",
        validators=[Optional(), Length(max=2000)],
        render_kw={"placeholder": "empty: keep the current one"},
    )
    remove_token = BooleanField("Remove the token")
    weight = IntegerField(
        "Weight", validators=[Optional(), NumberRange(1, 1000)], render_kw={"min": 1}
    )
    parallel = BackendForm.parallel
    max_loaded = BackendForm.max_loaded
    submit = SubmitField("Save changes")


class AliasForm(FlaskForm):
    """Another name for a model."""

    alias = StringField(
        "Alias",
        validators=[DataRequired(), Length(max=200)],
        render_kw={"placeholder": "gpt-4o"},
    )
    model = StringField(
        "Model",
        validators=[DataRequired(), Length(max=200)],
        render_kw={"placeholder": "llama3.2"},
    )
    submit = SubmitField("Add alias")


class RouteForm(FlaskForm):
    """Pin a model to backends (names separated by spaces; empty unpins it)."""

    model = StringField(
        "Model",
        validators=[DataRequired(), Length(max=200)],
        render_kw={"placeholder": "llama3:70b"},
    )
    backends = StringField(
        "Backends",
        validators=[Optional(), Length(max=1000)],
        render_kw={"placeholder": "gpu1 gpu2"},
    )
    submit = SubmitField("Set route")


class PolicyForm(FlaskForm):
    """A model's num_ctx, keep_alive and warm copies (empty: none)."""

    model = StringField(
        "Model",
        validators=[DataRequired(), Length(max=200)],
        render_kw={"placeholder": "llama3.2"},
    )
    num_ctx = IntegerField(
        "num_ctx",
        validators=[Optional(), NumberRange(0, 10**7)],
        render_kw={"placeholder": "e.g. 8192"},
    )
    num_ctx_enforced = BooleanField("enforce num_ctx")
    keep_alive = StringField(
        "keep_alive",
        validators=[Optional(), Length(max=40)],
        render_kw={"placeholder": "30m"},
    )
    keep_alive_enforced = BooleanField("enforce keep_alive")
    warm = IntegerField(
        "Warm copies",
        validators=[Optional(), NumberRange(0, 100)],
        render_kw={"placeholder": "0"},
    )
    submit = SubmitField("Set policy")
