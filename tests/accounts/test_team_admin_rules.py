"""A team admin hands out keys within the team's rules, as its members meet them in
the portal: an expiry required, the longest expiry, the most keys per person, the
portal's model picks. An admin, who sets the rules, is not held to them."""

from __future__ import annotations

from datetime import date, timedelta

from ollama_gate.audit import AuditLog
from ollama_gate.extensions import db
from ollama_gate.models import ApiKey, Team
from tests.helpers import teams
from tests.helpers.admin import login, post
from tests.helpers.teams import FORM, text

world, tess = teams.world, teams.tess  # the fixtures of the two-team world


def rules(app, team_id: int, **values) -> None:
    with app.app_context():
        team = db.session.get(Team, team_id)
        for name, value in values.items():
            setattr(team, name, value)
        db.session.commit()


def keys_named(app, name: str) -> list[ApiKey]:
    with app.app_context():
        found = db.session.execute(db.select(ApiKey).where(ApiKey.name == name))
        return [(k.expires_at, k.model_allowlist) for k in found.scalars()]


def refusals(app) -> list[str]:
    with app.app_context():
        rows = db.session.execute(
            db.select(AuditLog).where(AuditLog.action == "key_refused")
        ).scalars()
        return [r.detail for r in rows]


def test_a_team_admins_key_meets_the_teams_rules(app, tess, world):
    rules(
        app,
        world.ml,
        portal_expiry_required=True,
        portal_max_days=30,
        portal_models="llama3.2",
    )
    path = f"/admin/users/{world.mia}/keys"
    never = post(tess, path, {"name": "forever"}, FORM)
    assert never.status_code == 403
    assert "requires an expiry" in text(never)
    too_late = (date.today() + timedelta(days=90)).isoformat()
    late = post(tess, path, {"name": "forever", "expires": too_late}, FORM)
    assert late.status_code == 403 and "at most 30 days" in text(late)
    assert keys_named(app, "forever") == []
    assert len(refusals(app)) == 2 and "team rules" in refusals(app)[0]
    soon = (date.today() + timedelta(days=10)).isoformat()
    made = post(tess, path, {"name": "phone", "expires": soon}, FORM)
    assert made.status_code == 303
    ((expires, models),) = keys_named(app, "phone")
    assert expires is not None and models == "llama3.2"  # the portal's picks


def test_a_team_admin_cannot_lift_a_members_key_past_the_rules(app, tess, world):
    rules(app, world.ml, portal_expiry_required=True)
    soon = (date.today() + timedelta(days=10)).isoformat()
    made = post(tess, f"/admin/users/{world.mia}/keys", {"name": "t", "expires": soon})
    assert made.status_code == 303
    (key_id,) = [
        int(part) for part in made.headers["Location"].split("/") if part.isdigit()
    ]
    lifted = post(tess, f"/admin/keys/{key_id}", {"name": "t"}, FORM)  # no expiry
    assert lifted.status_code == 403 and "requires an expiry" in text(lifted)
    assert keys_named(app, "t")[0][0] is not None


def test_the_most_keys_per_person_holds_for_a_team_admin(app, tess, world):
    rules(app, world.ml, portal_max_keys=1)  # mia holds one already
    refused = post(tess, f"/admin/users/{world.mia}/keys", {"name": "two"}, FORM)
    assert refused.status_code == 403
    assert "mia holds 1 active key" in text(refused)
    assert keys_named(app, "two") == []


def test_an_admin_is_not_held_to_the_team_rules(app, world):
    rules(app, world.ml, portal_expiry_required=True, portal_max_keys=1)
    admin = app.test_client()
    login(admin, "root")
    made = post(admin, f"/admin/users/{world.mia}/keys", {"name": "ops-bot"}, FORM)
    assert made.status_code == 303
    assert keys_named(app, "ops-bot") == [(None, None)]
    assert refusals(app) == []
