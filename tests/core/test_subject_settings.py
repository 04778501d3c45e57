"""The one table of per-subject settings: everything made from it covers every row."""

from __future__ import annotations

import click
import pytest

from ollama_gate import subject_settings
from ollama_gate.admin.handout import COPIED
from ollama_gate.audit import AuditLog
from ollama_gate.changes import SETTINGS, diff, snapshot
from ollama_gate.cli.keys import keys_create
from ollama_gate.cli.teams import teams_create, teams_set
from ollama_gate.cli.users import users_create, users_set
from ollama_gate.extensions import db
from ollama_gate.limits.admin import LimitFields
from ollama_gate.limits.cli import keys_set
from ollama_gate.models import ApiKey, Team, User
from ollama_gate.subject_settings import TABLE, rows_for
from ollama_gate.subjects import own_level
from tests.helpers.admin import login, make_admin, post
from tests.limits.test_admin import key_row

COMMANDS = {
    "key": (keys_create, keys_set),
    "user": (users_create, users_set),
    "team": (teams_create, teams_set),
}
MODELS = {"key": ApiKey, "user": User, "team": Team}


def test_the_table_joins_every_package_row_once():
    names = [row.name for row in TABLE]
    assert len(names) == len(set(names))
    assert {"history_mode", "rate_limit", "queue_weight", "max_concurrency"} <= set(
        names
    )


@pytest.mark.parametrize("kind", ["key", "user", "team"])
def test_every_row_has_its_column_options_and_form_field(kind):
    rows = rows_for(kind)
    columns = set(MODELS[kind].__table__.c.keys())
    for command in COMMANDS[kind]:
        options = {p.name: p for p in command.params if isinstance(p, click.Option)}
        for row in rows:
            assert row.name in columns, row.name
            assert row.name in options, (command.name, row.name)
            assert row.cli_option in options[row.name].opts
            assert options[row.name].help == row.help
    fields = subject_settings.form_fields(kind)
    for row in rows:
        assert hasattr(fields, row.form_field), row.name
        assert hasattr(fields, f"validate_{row.form_field}"), row.name


def test_every_key_row_is_audited_copied_on_rotation_and_on_the_key_form():
    for row in rows_for("key"):
        assert row.name in SETTINGS
        assert (row.name in COPIED) == row.copied
        assert hasattr(LimitFields, row.form_field)
    # an identity made without a chain still holds every key setting
    assert set(own_level(_Identity()).settings) == {r.name for r in rows_for("key")}


class _Identity:  # the fields own_level reads, all unset
    history_mode = rate_limit = calls_per_day = tokens_per_day = None
    calls_per_month = tokens_per_month = max_concurrency = None
    model_patterns = ()
    scopes = frozenset()
    queue_weight = 1
    limits_id = 1
    key_prefix = "og_x"


@pytest.mark.parametrize("kind", ["key", "user", "team"])
def test_the_audit_diff_names_every_row(kind):
    subject = MODELS[kind]()
    for row in rows_for(kind):
        setattr(subject, row.name, row.unset(kind))
    before = subject_settings.snapshot(subject, kind)
    samples = {"rate_limit": "5/minute", "model_allowlist": "llama3*"}
    samples |= {"scopes": "manage", "history_mode": "off"}
    for row in rows_for(kind):
        setattr(subject, row.name, samples.get(row.name, 3))
    labels = [
        line.split(":")[0] for line in subject_settings.diff(before, subject, kind)
    ]
    assert labels == [row.audit_label for row in rows_for(kind)]


def test_changes_diff_covers_the_key_rows():
    key = ApiKey(name="k", scopes="")
    before = snapshot(key)
    key.queue_weight = 4
    assert diff(before, key) == ["queue_weight: none → 4"]


@pytest.fixture()
def admin(app, client):
    make_admin(app)
    assert login(client).status_code == 302
    resp = post(client, "/admin/users", {"name": "alice"})
    return client, resp.headers["Location"].replace("http://localhost", "")


def test_a_queue_weight_changed_alone_in_the_ui_is_saved_and_audited(app, admin):
    client, page = admin
    resp = post(client, f"{page}/keys", {"name": "bot"}, page)
    assert resp.status_code == 303
    with app.app_context():
        key_id = db.session.execute(db.select(ApiKey.id)).scalar_one()
    form = client.get(f"/admin/keys/{key_id}").get_data(as_text=True)
    assert 'name="queue_weight"' in form
    saved = post(
        client,
        f"/admin/keys/{key_id}",
        {"name": "bot", "queue_weight": "3", "history_mode": ""},
        f"/admin/keys/{key_id}",
    )
    assert saved.status_code in (302, 303), saved.get_data(as_text=True)
    assert key_row(app, key_id).queue_weight == 3
    with app.app_context():
        details = db.session.execute(
            db.select(AuditLog.detail).where(AuditLog.action == "key_updated")
        ).scalars()
        assert list(details) == ["queue_weight: none → 3"]
