"""The team admin role, what they change: their members' keys and invitations into
their own team, never a role, a team or a bound; every action audited with their
name."""

from __future__ import annotations

from ollama_gate.accounts.invitations import Invitation
from ollama_gate.audit import AuditLog
from ollama_gate.extensions import db
from ollama_gate.models import ApiKey, Team, User
from tests.helpers import teams
from tests.helpers.admin import post
from tests.helpers.teams import FORM, key_state, text

world, tess = teams.world, teams.tess  # the fixtures of the two-team world


def test_they_cannot_raise_roles_move_members_or_change_bounds(app, tess, world):
    mia = world.mia
    attempts = (
        (f"/admin/users/{mia}/role", {"role": "admin"}),
        (f"/admin/users/{mia}/role", {"role": "team_admin"}),
        (f"/admin/users/{mia}/team", {"team": str(world.ops)}),
        (f"/admin/users/{mia}/team", {"team": "0"}),
        (f"/admin/users/{mia}/settings", {"own-rate_limit": "1000/minute"}),
        (f"/admin/users/{mia}/networks", {"networks": "0.0.0.0/0"}),
        (f"/admin/users/{mia}/delete", {}),
        (f"/admin/teams/{world.ml}", {"rate_limit": "1000/minute"}),
        (f"/admin/teams/{world.ml}/members", {"user": str(world.otto)}),
        (f"/admin/teams/{world.ml}/members/{mia}/remove", {}),
        (f"/admin/teams/{world.ops}/members", {"user": str(mia)}),
        ("/admin/teams", {"name": "mine"}),
        ("/admin/admins", {"name": "sneaky", "password": "x" * 20}),
    )
    for path, data in attempts:
        assert post(tess, path, data, FORM).status_code == 403, path
    with app.app_context():
        person = db.session.get(User, mia)
        assert (person.role, person.team_id) == ("member", world.ml)
        assert person.rate_limit is None
        assert db.session.get(Team, world.ml).rate_limit is None
        assert db.session.query(Team).count() == 2
        assert db.session.query(User).filter_by(role="admin").count() == 2
    page = text(tess.get(f"/admin/users/{mia}"))
    for form in ('id="role-form"', '/team"', '/settings"', '/networks"', '/delete"'):
        assert form not in page, form
    assert 'id="user-role"' in page and 'id="invite-form"' in page


def test_they_manage_their_members_keys_audited(app, tess, world):
    made = post(
        tess,
        f"/admin/users/{world.mia}/keys",
        {"name": "mia-phone", "history_mode": "full", "manage": "y"},
        FORM,
    )
    assert made.status_code == 303
    shown = tess.get(made.headers["Location"])
    assert shown.status_code == 200 and "og_" in text(shown)
    with app.app_context():
        new = db.session.execute(
            db.select(ApiKey).where(ApiKey.name == "mia-phone")
        ).scalar_one()
        new_id_ = new.id
        # per-key settings are the admin's: the team's bounds hold for this key
        assert new.history_mode is None and not new.scopes
    for action in ("disable", "enable"):
        assert (
            post(tess, f"/admin/keys/{new_id_}/{action}", {}, FORM).status_code == 302
        )
    resp = post(tess, f"/admin/keys/{new_id_}", {"name": "mia-tablet"}, FORM)
    assert resp.status_code == 302
    assert key_state(app, new_id_)[3] == "mia-tablet"
    rotated = post(tess, f"/admin/keys/{new_id_}/rotate", {"grace": "0"}, FORM)
    assert rotated.status_code == 303
    assert tess.get(rotated.headers["Location"]).status_code == 200
    resp = post(tess, f"/admin/keys/{world.mia_key}/revoke", {}, FORM)
    assert resp.status_code == 302
    assert key_state(app, world.mia_key)[1] is not None
    with app.app_context():
        entries = db.session.execute(
            db.select(AuditLog.action, AuditLog.admin_name).where(
                AuditLog.action.like("key_%")
            )
        ).all()
    actions = {a for a, _ in entries}
    assert {
        "key_created",
        "key_disabled",
        "key_enabled",
        "key_updated",
        "key_rotated",
        "key_revoked",
    } <= actions
    assert {who for _, who in entries} == {"tess"}


def test_they_invite_members_into_their_own_team_only(app, tess, world):
    resp = post(tess, "/admin/users", {"name": "newbie"}, FORM)
    assert resp.status_code == 302
    with app.app_context():
        newbie = db.session.execute(
            db.select(User).where(User.name == "newbie")
        ).scalar_one()
        assert (newbie.team_id, newbie.role) == (world.ml, "member")
        newbie_id = newbie.id
    page = post(tess, f"/admin/users/{newbie_id}/invite", {}, FORM)
    assert page.status_code == 200 and "/invite/" in text(page)
    # a peer team admin's password is not theirs to set (an account takeover)
    refused = post(tess, f"/admin/users/{world.ted}/invite", {}, FORM)
    assert refused.status_code == 302
    assert 'id="invite-form"' not in text(tess.get(f"/admin/users/{world.ted}"))
    # a new user named on the Keys page joins their team too
    made = post(tess, "/admin/keys/new", {"new_user": "fresh", "name": "k"}, FORM)
    assert made.status_code == 303
    with app.app_context():
        fresh = db.session.execute(
            db.select(User).where(User.name == "fresh")
        ).scalar_one()
        assert (fresh.team_id, fresh.role) == (world.ml, "member")
        invited = db.session.execute(db.select(Invitation.user_id)).scalars().all()
        assert invited == [newbie_id]
        entries = db.session.execute(
            db.select(AuditLog.action, AuditLog.target, AuditLog.admin_name).where(
                AuditLog.action.in_(("user_created", "invite_created"))
            )
        ).all()
    assert sorted(entries) == [
        ("invite_created", "newbie", "tess"),
        ("user_created", "fresh", "tess"),
        ("user_created", "newbie", "tess"),
    ]
