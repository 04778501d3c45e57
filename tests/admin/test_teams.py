"""Teams in the admin UI: the list, create, a team's page (members, keys, usage,
settings made from the subject settings table), delete; the user page's team and
settings; names escaped; CSRF on every form; every change audited."""

from __future__ import annotations

import re

import pytest

from ollama_gate.audit import AuditLog
from ollama_gate.extensions import db
from ollama_gate.models import Team, User
from tests.admin.test_keys import create_user
from tests.helpers.admin import login, make_admin, post
from tests.helpers.keys import add_key

EVIL = "<script>alert(1)</script>"


@pytest.fixture()
def admin(app, client):
    """A logged-in admin ``root``; returns the client."""
    make_admin(app)
    assert login(client).status_code == 302
    return client


def create_team(client, name: str) -> int:
    """Create a team through the page; return its id."""
    resp = post(client, "/admin/teams", {"name": name}, "/admin/teams")
    assert resp.status_code == 302, resp.text
    return int(resp.headers["Location"].rsplit("/", 1)[1])


def audit(app, action: str) -> list[tuple[str, str]]:
    """(target, detail) of each audit entry of ``action``, oldest first."""
    with app.app_context():
        rows = db.session.execute(
            db.select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)
        ).scalars()
        return [(r.target, r.detail) for r in rows]


def team_of(app, user_id: int) -> str | None:
    with app.app_context():
        user = db.session.get(User, user_id)
        return user.team.name if user.team else None


def test_create_list_and_add_a_member(app, admin):
    tid = create_team(admin, "research")
    uid = create_user(admin, "alice")
    assert audit(app, "team_created") == [("research", "")]
    page = f"/admin/teams/{tid}"
    assert "alice" in admin.get(page).text  # offered to add
    resp = post(admin, f"{page}/members", {"user": uid}, page)
    assert resp.status_code == 302 and team_of(app, uid) == "research"
    assert audit(app, "user_updated") == [("alice", "team: none → research")]
    add_key(app, "alice")
    listing = admin.get("/admin/teams").text
    assert "research" in listing and 'data-label="Members">1<' in listing
    assert 'data-label="Keys">1<' in listing
    assert ">research</a>" in admin.get("/admin/users").text  # the users' team column
    html = admin.get(page).text
    assert 'id="members"' in html and "alice" in html[html.index('id="members"') :]
    # remove: back to no team, audited
    post(admin, f"{page}/members/{uid}/remove", {}, page)
    assert team_of(app, uid) is None
    assert audit(app, "user_updated")[-1] == ("alice", "team: research → none")


def test_duplicate_and_bad_names_are_refused(app, admin):
    create_team(admin, "ops")
    again = post(admin, "/admin/teams", {"name": "ops"}, "/admin/teams")
    assert again.status_code == 400 and "already exists" in again.text
    bad = post(admin, "/admin/teams", {"name": EVIL}, "/admin/teams")
    assert bad.status_code == 400 and "<script>alert" not in bad.text
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Team.id))) == 1


def test_every_form_needs_csrf(app, admin):
    tid = create_team(admin, "ops")
    uid = create_user(admin, "alice")
    for path, data in (
        ("/admin/teams", {"name": "other"}),
        (f"/admin/teams/{tid}", {"calls_per_day": "5"}),
        (f"/admin/teams/{tid}/members", {"user": uid}),
        (f"/admin/teams/{tid}/delete", {}),
        (f"/admin/users/{uid}/team", {"team": tid}),
        (f"/admin/users/{uid}/settings", {"own-calls_per_day": "5"}),
    ):
        resp = admin.post(path, data=data)
        assert resp.status_code in (400, 302), path
    with app.app_context():
        team = db.session.get(Team, tid)
        assert team.calls_per_day is None and team.members == []
        assert db.session.get(User, uid).calls_per_day is None
        assert db.session.scalar(db.select(db.func.count(Team.id))) == 1
    assert audit(app, "team_updated") == [] and audit(app, "user_updated") == []


def test_names_are_escaped(app, admin):
    with app.app_context():  # names made elsewhere (an import, an old CLI) as stored
        team = Team(name=EVIL)
        db.session.add(User(name=EVIL + "u", team=team))
        db.session.commit()
        tid, uid = team.id, team.members[0].id
    for path in (
        "/admin/teams",
        f"/admin/teams/{tid}",
        f"/admin/users/{uid}",
        "/admin/users",
        f"/admin/teams/{tid}/delete",
    ):
        html = admin.get(path).text
        assert "<script>alert(1)" not in html, path
        assert "&lt;script&gt;alert(1)" in html, path


def test_settings_form_saves_audits_and_checks_like_the_cli(app, admin):
    tid = create_team(admin, "ml")
    page = f"/admin/teams/{tid}"
    html = admin.get(page).text
    for name in (
        "rate_limit",
        "calls_per_day",
        "tokens_per_month",
        "models",
        "manage",
        "max_concurrency",
        "queue_weight",
        "history_mode",
    ):
        assert f'name="{name}"' in html, name  # every row of the table has its field
    resp = post(
        admin,
        page,
        {"calls_per_day": "100", "rate_limit": "5/minute", "manage": "-"},
        page,
    )
    assert resp.status_code == 302
    with app.app_context():
        team = db.session.get(Team, tid)
        assert (team.calls_per_day, team.rate_limit, team.scopes) == (
            100,
            "5/minute",
            "",
        )
        assert team.tokens_per_day is None and team.model_allowlist is None
    ((target, detail),) = audit(app, "team_updated")
    assert target == "ml"
    assert (
        "calls_per_day: none → 100" in detail
        and "rate_limit: none → 5/minute" in detail
    )
    assert "scopes: none → -" in detail and "tokens" not in detail
    # the row's own parse refuses what the CLI refuses; nothing saved
    bad = post(admin, page, {"rate_limit": "often", "calls_per_day": "-3"}, page)
    assert bad.status_code == 400 and "not a rate limit" in bad.text
    with app.app_context():
        assert db.session.get(Team, tid).rate_limit == "5/minute"
    # the page shows the saved values; saving them again changes nothing
    html = admin.get(page).text
    assert 'value="100"' in html and 'value="5/minute"' in html
    post(
        admin,
        page,
        {"calls_per_day": "100", "rate_limit": "5/minute", "manage": "-"},
        page,
    )
    assert len(audit(app, "team_updated")) == 1
    # clearing: empty is no bound again
    post(admin, page, {"manage": ""}, page)
    with app.app_context():
        team = db.session.get(Team, tid)
        assert (team.calls_per_day, team.rate_limit, team.scopes) == (None, None, None)


def test_the_user_page_sets_team_and_own_settings(app, admin):
    tid = create_team(admin, "ml")
    uid = create_user(admin, "bob")
    page = f"/admin/users/{uid}"
    html = admin.get(page).text
    assert f'<option value="{tid}">ml</option>' in html
    own = html[html.index('id="user-settings"') :]
    own = own[: own.index("</form>")]
    assert 'name="own-calls_per_day"' in own and "Save user settings" in own
    assert 'name="calls_per_day"' not in own  # not the key form's fields
    ids = re.findall(r'\bid="([^"]+)"', html)
    # each form has a csrf_token and a submit; the networks panel and field were so
    twice = {i for i in ids if ids.count(i) > 1} - {"csrf_token", "submit", "networks"}
    assert not twice, f"ids used twice on the user page: {twice}"
    assert post(admin, f"{page}/team", {"team": tid}, page).status_code == 302
    assert team_of(app, uid) == "ml"
    assert post(admin, f"{page}/team", {"team": 0}, page).status_code == 302
    assert team_of(app, uid) is None
    assert [d for _, d in audit(app, "user_updated")] == [
        "team: none → ml",
        "team: ml → none",
    ]
    assert post(admin, f"{page}/team", {"team": 9999}, page).status_code == 400
    resp = post(admin, f"{page}/settings", {"own-tokens_per_day": "5000"}, page)
    assert resp.status_code == 302
    with app.app_context():
        assert db.session.get(User, uid).tokens_per_day == 5000
    assert audit(app, "user_updated")[-1] == ("bob", "tokens_per_day: none → 5000")
    bad = post(admin, f"{page}/settings", {"own-max_concurrency": "lots"}, page)
    assert bad.status_code == 400


def test_delete_with_members_needs_the_confirmation(app, admin):
    tid = create_team(admin, "gone")
    uid = create_user(admin, "carol")
    page = f"/admin/teams/{tid}"
    post(admin, f"{page}/members", {"user": uid}, page)
    confirm = admin.get(f"{page}/delete").text
    assert "carol" in confirm and "team-less" in confirm
    refused = post(admin, f"{page}/delete", {}, f"{page}/delete")
    assert refused.status_code == 400 and "Tick the box" in refused.text
    assert team_of(app, uid) == "gone"
    done = post(admin, f"{page}/delete", {"members_leave": "y"}, f"{page}/delete")
    assert done.status_code == 302 and team_of(app, uid) is None
    with app.app_context():
        assert db.session.get(Team, tid) is None
        assert db.session.get(User, uid) is not None  # the user stays
    assert audit(app, "team_deleted") == [("gone", "members left team-less: carol")]
    # a team without members goes at once
    empty = create_team(admin, "empty")
    post(admin, f"/admin/teams/{empty}/delete", {}, f"/admin/teams/{empty}/delete")
    assert audit(app, "team_deleted")[-1] == ("empty", "")
    assert admin.get(f"/admin/teams/{empty}").status_code == 404
    assert admin.get("/admin/teams/99999999999999999999").status_code == 404
