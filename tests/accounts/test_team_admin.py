"""The team admin role: their team's members, keys, usage and history, and nothing of
another team's (``accounts.scope``); admin-only pages and changes refused; every
action audited with their name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from ollama_gate.accounts.invitations import Invitation
from ollama_gate.audit import AuditLog
from ollama_gate.extensions import db
from ollama_gate.history.models import Request, new_id
from ollama_gate.models import ApiKey, Team, User, utcnow
from tests.helpers.admin import login, make_admin, make_person, post
from tests.helpers.keys import add_key

FORM = "/admin/account"  # any page with a form gives a CSRF token for the session


@dataclass
class World:
    """Two teams: ``ml`` (team admin tess, member mia, an admin boss, a second team
    admin ted) and ``ops`` (member otto); keys and one call each."""

    ml: int
    ops: int
    mia: int
    otto: int
    boss: int
    ted: int
    mia_key: int
    otto_key: int
    boss_key: int
    mia_prefix: str
    otto_prefix: str
    mia_call: str
    otto_call: str


def _call(user: User, prompt: str) -> str:
    when = utcnow() - timedelta(minutes=1)
    row = Request(
        id=new_id(when),
        started_at=when,
        user_name=user.name,
        user_id=user.id,
        team_name=user.team.name,
        team_id=user.team_id,
        key_prefix=user.keys[0].prefix,
        endpoint="/api/chat",
        model="llama3.2",
        status=200,
        total_tokens=8,
        completed=True,
        prompt_text=prompt,
        answer_text="fine",
    )
    db.session.add(row)
    return row.id


@pytest.fixture()
def world(app) -> World:
    make_admin(app)
    make_person(app, "tess", role="team_admin", team="ml")
    ids = {
        "mia": make_person(app, "mia", None, team="ml"),
        "ted": make_person(app, "ted", role="team_admin", team="ml"),
        "boss": make_person(app, "boss", role="admin", team="ml"),
        "otto": make_person(app, "otto", None, team="ops"),
    }
    for name in ("mia", "otto", "boss"):
        add_key(app, name, name=f"{name}-laptop")
    with app.app_context():
        people = {n: db.session.get(User, i) for n, i in ids.items()}
        calls = {n: _call(people[n], f"secret of {n}") for n in ("mia", "otto")}
        db.session.commit()
        return World(
            ml=people["mia"].team_id,
            ops=people["otto"].team_id,
            mia=ids["mia"],
            otto=ids["otto"],
            boss=ids["boss"],
            ted=ids["ted"],
            mia_key=people["mia"].keys[0].id,
            otto_key=people["otto"].keys[0].id,
            boss_key=people["boss"].keys[0].id,
            mia_prefix=people["mia"].keys[0].prefix,
            otto_prefix=people["otto"].keys[0].prefix,
            mia_call=calls["mia"],
            otto_call=calls["otto"],
        )


@pytest.fixture()
def tess(client, world):
    """``client`` signed in as tess, team admin of ml."""
    resp = login(client, "tess")
    assert resp.headers["Location"] == "/admin/"
    return client


def text(resp) -> str:
    return resp.get_data(as_text=True)


def key_state(app, key_id: int) -> tuple:
    with app.app_context():
        key = db.session.get(ApiKey, key_id)
        return key.disabled, key.revoked_at, key.revoke_at, key.name


def test_lists_show_their_team_only(app, tess, world):
    users = text(tess.get("/admin/users"))
    assert "mia" in users and "ted" in users and "tess" in users
    assert "otto" not in users and "boss" not in users and "root" not in users
    keys = text(tess.get("/admin/keys"))
    assert world.mia_prefix in keys
    assert world.otto_prefix not in keys and "boss-laptop" not in keys
    part = tess.get(f"/history/{world.mia_call}/prompt.txt")
    assert text(part) == "secret of mia"  # a long text's pages, for their team
    history = text(tess.get("/history/"))
    assert world.mia_call in history and world.otto_call not in history
    assert "otto" not in history and "ops" not in history  # nor in the filters
    # filters naming the other team find nothing of it
    assert world.otto_call not in text(tess.get("/history/?team=ops&user=otto"))
    usage = tess.get("/history/dashboard?range=7d")
    assert usage.status_code == 200
    assert "otto" not in text(usage) and "mia" in text(usage)
    export = text(tess.get("/history/export.csv"))
    assert "secret of mia" in export and "secret of otto" not in export
    # the overview of a team admin is their team's page: members, keys, usage
    landing = tess.get("/admin/overview")
    assert landing.headers["Location"] == f"/admin/teams/{world.ml}"
    team = text(tess.get(landing.headers["Location"]))
    assert "mia" in team and world.mia_prefix in team and "Usage against" in team
    assert "boss-laptop" not in team and 'id="add-member"' not in team
    assert "Delete team" not in team and 'id="team-settings-read"' in team


def test_the_nav_names_their_team_and_only_their_pages(tess, world):
    html = text(tess.get("/admin/users"))
    assert 'id="nav-team"' in html and "Team ml" in html
    for closed in ("/admin/backends", '/admin/teams"', "/admin/audit", "/admin/admins"):
        assert closed not in html, closed
    for open_ in ("/admin/users", "/admin/keys", "/history", "/history/dashboard"):
        assert f'href="{open_}"' in html, open_


def test_other_teams_ids_give_404_and_posts_change_nothing(app, tess, world):
    for path in (
        f"/admin/users/{world.otto}",
        f"/admin/users/{world.boss}",  # an admin in their own team: not theirs
        f"/admin/keys/{world.otto_key}",
        f"/admin/keys/{world.boss_key}",
        f"/admin/keys/{world.otto_key}/rotate",
        f"/admin/keys/{world.otto_key}/revoke",
        f"/admin/keys/{world.otto_key}/created",
        f"/admin/teams/{world.ops}",
        f"/history/{world.otto_call}",
        f"/history/{world.otto_call}/prompt.txt",
        f"/admin/users/{2**70}",
    ):
        assert tess.get(path).status_code == 404, path
    before = key_state(app, world.otto_key), key_state(app, world.boss_key)
    for key_id in (world.otto_key, world.boss_key):
        for action in ("disable", "revoke", "rotate"):
            data = {"grace": "0"} if action == "rotate" else {}
            resp = post(tess, f"/admin/keys/{key_id}/{action}", data, FORM)
            assert resp.status_code == 404, (key_id, action)
        resp = post(tess, f"/admin/keys/{key_id}", {"name": "hijacked"}, FORM)
        assert resp.status_code == 404
    for user_id in (world.otto, world.boss):
        resp = post(tess, f"/admin/users/{user_id}/keys", {"name": "x"}, FORM)
        assert resp.status_code == 404
        assert post(tess, f"/admin/users/{user_id}/invite", {}, FORM).status_code == 404
    assert (key_state(app, world.otto_key), key_state(app, world.boss_key)) == before
    with app.app_context():
        assert db.session.query(ApiKey).count() == 3  # no key made for them
        assert db.session.query(Invitation).count() == 0
    # a prefix of another team's key leads to an empty search, not to the key
    found = tess.get(f"/admin/keys/prefix/{world.otto_prefix}")
    assert f"/admin/keys/{world.otto_key}" not in found.headers["Location"]
    # a new key from the Keys page cannot pick another team's user
    resp = post(tess, "/admin/keys/new", {"user": str(world.otto)}, FORM)
    assert resp.status_code == 400
    with app.app_context():
        assert db.session.query(ApiKey).count() == 3


ADMIN_ONLY_PAGES = (
    "/admin/teams",
    "/admin/backends",
    "/admin/settings",
    "/admin/cache/",
    "/admin/events/",
    "/admin/audit",
    "/admin/admins",
    "/admin/people",
)


def test_admin_only_pages_give_403(tess, world):
    for path in (*ADMIN_ONLY_PAGES, f"/admin/users/{world.mia}/delete"):
        resp = tess.get(path)
        assert resp.status_code == 403, path
        assert "Team ml" in text(resp)  # the page keeps their menu


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


def test_a_team_admin_without_a_team_administers_nobody(app, client, world):
    make_person(app, "lone", role="team_admin")
    login(client, "lone")
    assert client.get("/admin/overview").headers["Location"] == "/admin/users"
    users = text(client.get("/admin/users"))
    assert "mia" not in users and "otto" not in users and "No team" in users
    assert world.mia_call not in text(client.get("/history/"))
    assert client.get(f"/admin/users/{world.mia}").status_code == 404
    assert client.get(f"/history/{world.mia_call}").status_code == 404
    resp = post(client, "/admin/users", {"name": "stray"}, FORM)
    assert resp.status_code == 400
    with app.app_context():
        assert db.session.query(User).filter_by(name="stray").count() == 0


def test_admins_still_see_every_team(client, world):
    login(client)
    users = text(client.get("/admin/users"))
    assert "otto" in users and "mia" in users and "boss" in users
    assert world.otto_call in text(client.get("/history/"))
    assert client.get(f"/admin/keys/{world.otto_key}").status_code == 200
    assert client.get("/admin/overview").status_code == 200
