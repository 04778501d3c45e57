"""The team policy of the portal (team-only rows of the subject settings table):
edited on the team page and with ``teams set``, audited, and read as the policy."""

from __future__ import annotations

import pytest

from ollama_gate.accounts.policy import policy_for
from ollama_gate.extensions import db
from ollama_gate.models import Team, User
from tests.admin.test_teams import audit, create_team
from tests.helpers.admin import login, make_admin, post

POLICY = {
    "portal_max_keys": "3",
    "portal_max_days": "30",
    "portal_expiry_required": "y",
    "portal_models": "llama3*, qwen2.5:7b",
}


@pytest.fixture()
def admin(app, client):
    make_admin(app)
    assert login(client).status_code == 302
    return client


def team_row(app, name: str) -> Team:
    with app.app_context():
        team = db.session.execute(db.select(Team).where(Team.name == name)).scalar_one()
        db.session.expunge(team)
        return team


def test_the_team_page_edits_the_policy_audited(app, admin):
    tid = create_team(admin, "ml")
    page = f"/admin/teams/{tid}"
    html = admin.get(page).text
    assert 'id="team-portal-policy"' in html
    for name in POLICY:
        assert f'name="{name}"' in html
    resp = post(admin, page, POLICY, page)
    assert resp.status_code == 302, resp.text
    team = team_row(app, "ml")
    assert (team.portal_max_keys, team.portal_max_days) == (3, 30)
    assert team.portal_expiry_required is True
    assert team.portal_models == "llama3*,qwen2.5:7b"
    [(target, detail)] = audit(app, "team_updated")
    assert target == "ml"
    assert detail == (
        "portal_max_keys: none → 3, portal_max_days: none → 30, "
        "portal_expiry_required: none → True, "
        "portal_models: none → llama3*,qwen2.5:7b"
    )
    # the page shows them back; a day count of 0 is refused with the reason
    assert 'value="30"' in admin.get(page).text
    bad = post(admin, page, {**POLICY, "portal_max_days": "0"}, page)
    assert bad.status_code == 400 and "from 1 to" in bad.text
    assert team_row(app, "ml").portal_max_days == 30


def test_teams_set_edits_the_policy_audited(app, runner):
    assert runner.invoke(args=["teams", "create", "ml"]).exit_code == 0
    result = runner.invoke(
        args=[
            "teams",
            "set",
            "ml",
            "--portal-max-keys",
            "2",
            "--portal-max-days",
            "14",
            "--portal-expiry-required",
            "on",
            "--portal-models",
            "llama3*",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "portal max keys: 2" in result.output
    team = team_row(app, "ml")
    assert (team.portal_max_keys, team.portal_max_days) == (2, 14)
    assert team.portal_expiry_required and team.portal_models == "llama3*"
    [(target, detail)] = audit(app, "team_updated")
    assert target == "ml" and "portal_max_keys: none → 2" in detail
    cleared = runner.invoke(
        args=["teams", "set", "ml", "--portal-expiry-required", "off"]
    )
    assert cleared.exit_code == 0, cleared.output
    assert team_row(app, "ml").portal_expiry_required is None
    bad = runner.invoke(args=["teams", "set", "ml", "--portal-max-days", "0"])
    assert bad.exit_code != 0 and "from 1 to" in bad.output


def test_the_policy_reads_the_team_and_the_gateway_default(app):
    with app.app_context():
        team = Team(
            name="ml",
            portal_max_keys=3,
            portal_max_days=30,
            portal_expiry_required=True,
            model_allowlist="llama3*,qwen*",
            portal_models="llama3*",
        )
        alice, bob = User(name="alice", team=team), User(name="bob")
        db.session.add_all([team, alice, bob])
        db.session.flush()
        policy = policy_for(alice)
        assert (policy.max_keys, policy.max_days, policy.expiry_required) == (
            3,
            30,
            True,
        )
        assert policy.bounds == (("llama3*",), ("llama3*", "qwen*"))
        lone = policy_for(bob)  # no team: the gateway's default, no other bound
        assert lone.max_keys == app.config["GATE"]["PORTAL_MAX_KEYS"] == 5
        assert (lone.max_days, lone.expiry_required, lone.bounds) == (None, False, ())
