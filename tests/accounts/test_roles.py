"""Who may open which page: every admin page needs the admin role; members and (for
now) team admins get a 403 page pointing to the portal (``accounts.roles``)."""

from __future__ import annotations

import pytest

from ollama_gate.accounts.roles import admin_required, staff_required
from tests.helpers.admin import login, make_admin, make_person, post

ADMIN_PAGES = (
    "/admin/overview",
    "/admin/users",
    "/admin/teams",
    "/admin/keys",
    "/admin/audit",
    "/admin/admins",
    "/admin/settings",
    "/admin/backends",
    "/admin/cache/",
    "/admin/events/",
    "/history/",
    "/history/dashboard",
)


@pytest.mark.parametrize("role", ["member", "team_admin"])
def test_members_and_team_admins_get_a_clear_403_on_admin_pages(app, client, role):
    make_admin(app)
    make_person(app, "mia", role=role, team="ml")
    resp = login(client, "mia")
    assert resp.status_code == 302
    assert resp.headers["Location"] == ("/portal/" if role == "member" else "/admin/")
    for path in ADMIN_PAGES:
        page = client.get(path)
        assert page.status_code == 403, path
        html = page.get_data(as_text=True)
        assert 'href="/portal/"' in html and "mia" in html
        assert 'href="/admin/users"' not in html  # no admin menu
    # a change is refused too, not only a page
    refused = post(client, "/admin/users", {"name": "sneaky"}, "/admin/account")
    assert refused.status_code == 403
    # one's own account page and signing out are for everyone
    assert client.get("/admin/account").status_code == 200
    assert post(client, "/admin/logout", {}, "/admin/account").status_code == 302
    assert client.get("/admin/account").status_code == 302  # signed out


def test_admins_open_every_admin_page(app, client):
    make_admin(app)
    login(client)
    for path in ADMIN_PAGES:
        assert client.get(path).status_code == 200, path


def test_a_role_taken_away_ends_the_session_at_once(app, client, runner):
    make_admin(app)
    make_admin(app, "second")
    other = app.test_client()
    login(other, "second")
    assert other.get("/admin/users").status_code == 200
    result = runner.invoke(args=["users", "set", "second", "--role", "member"])
    assert result.exit_code == 0, result.output
    assert other.get("/admin/users").status_code == 302  # signed out: log in again


def test_the_decorators_refuse_by_role(app):
    @admin_required
    def only_admins():
        return "admin page"

    @staff_required
    def staff():
        return "staff page"

    assert (only_admins.__name__, staff.__name__) == ("only_admins", "staff")
    make_admin(app)
    make_person(app, "tia", role="team_admin")
    app.add_url_rule("/probe/admin", view_func=only_admins)
    app.add_url_rule("/probe/staff", view_func=staff)
    for name, admin_code, staff_code in (("root", 200, 200), ("tia", 403, 200)):
        client = app.test_client()
        assert client.get("/probe/admin").status_code == 302  # not signed in
        login(client, name)
        assert client.get("/probe/admin").status_code == admin_code
        assert client.get("/probe/staff").status_code == staff_code
