"""The team admin role, what they see: their team's members, keys, usage and history,
and nothing of another team's (``accounts.scope``); admin-only pages refused."""

from __future__ import annotations

from ollama_gate.accounts.invitations import Invitation
from ollama_gate.extensions import db
from ollama_gate.models import ApiKey, User
from tests.helpers import teams
from tests.helpers.admin import login, make_person, post
from tests.helpers.teams import FORM, key_state, text

world, tess = teams.world, teams.tess  # the fixtures of the two-team world


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
    assert 'id="failed-keys"' not in text(usage)  # tried keys are nobody's team
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
