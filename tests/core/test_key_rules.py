"""One rule each for the admin form and the CLI: an expiry in the past is refused
with the same words, an allowlist matching no fleet model warned about alike."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from ollama_gate.extensions import db
from ollama_gate.keyrules import PAST_EXPIRY, expiry_refusal
from ollama_gate.models import ApiKey
from tests.admin.test_keys import create_user
from tests.helpers.admin import login, make_admin, post

UNMATCHED = "No model on the fleet matches lama3.2: check the spelling"


@pytest.fixture()
def alice(runner):
    assert runner.invoke(args=["users", "create", "alice"]).exit_code == 0


def test_the_rule_itself():
    now = datetime(2026, 5, 1, 12)
    assert expiry_refusal(None, now) is None
    assert expiry_refusal(now + timedelta(seconds=1), now) is None
    assert expiry_refusal(now, now) == PAST_EXPIRY


def test_form_and_cli_refuse_a_past_expiry_alike(app, client, runner, alice):
    make_admin(app)
    login(client)
    uid = create_user(client, "bob")
    page = f"/admin/users/{uid}"
    resp = post(client, f"{page}/keys", {"expires": "2001-01-31"}, page)
    assert resp.status_code == 400 and PAST_EXPIRY in resp.text
    made = runner.invoke(args=["keys", "create", "alice", "--expires", "2001-01-31"])
    assert made.exit_code == 2 and PAST_EXPIRY in made.output
    with app.app_context():
        assert db.session.execute(db.select(ApiKey)).first() is None  # none made
    made = runner.invoke(args=["keys", "create", "alice", "--expires", "2999-01-31"])
    assert made.exit_code == 0, made.output
    prefix = made.output.split()[2]
    bad = runner.invoke(args=["keys", "set", prefix, "--expires", "2001-01-31"])
    assert bad.exit_code == 2 and PAST_EXPIRY in bad.output
    cleared = runner.invoke(args=["keys", "set", prefix, "--expires", "none"])
    assert cleared.exit_code == 0, cleared.output
    with app.app_context():
        assert db.session.execute(db.select(ApiKey)).scalar_one().expires_at is None


def test_form_and_cli_warn_of_an_allowlist_matching_nothing(
    app, client, runner, alice, fake
):
    make_admin(app)
    login(client)
    uid = create_user(client, "bob")
    page = f"/admin/users/{uid}"
    resp = post(client, f"{page}/keys", {"models": "llama3*, lama3.2"}, page)
    assert UNMATCHED in client.get(resp.headers["Location"]).text
    args = ["keys", "create", "alice", "--models", "llama3*, lama3.2"]
    made = runner.invoke(args=args)
    assert made.exit_code == 0 and f"warning: {UNMATCHED}" in made.output
    prefix = made.output.split("created key ")[1].split()[0]
    ok = runner.invoke(args=["keys", "set", prefix, "--models", "llama3*"])
    assert ok.exit_code == 0 and "warning" not in ok.output
    warned = runner.invoke(args=["keys", "set", prefix, "--models", "lama3.2"])
    assert warned.exit_code == 0 and f"warning: {UNMATCHED}" in warned.output
