"""Sessions (``accounts.sessions``): a login says how, lands by role, and signing out
or a new password ends every copy of the session on the server side."""

from __future__ import annotations

from ollama_gate.audit import AuditLog
from ollama_gate.extensions import db
from tests.helpers.admin import PASSWORD, login, make_person, post


def test_a_member_signs_in_to_the_portal_and_out_everywhere(app, client):
    make_person(app, "mo", team="ml")
    resp = login(client, "mo")
    assert resp.status_code == 302 and resp.headers["Location"] == "/portal/"
    with app.app_context():
        entry = db.session.execute(db.select(AuditLog)).scalar_one()
        assert (entry.action, entry.admin_name, entry.detail) == (
            "login",
            "mo",
            "method=password",
        )
    copy = app.test_client()
    copy.set_cookie("session", client.get_cookie("session").value)
    assert copy.get("/admin/account").status_code == 200  # the same session
    assert post(client, "/admin/logout", {}, "/admin/account").status_code == 302
    assert copy.get("/admin/account").status_code == 302  # ended server-side too


def test_a_new_password_ends_the_other_sessions(app, client):
    make_person(app, "mo")
    other = app.test_client()
    login(client, "mo")
    login(other, "mo")
    changed = post(
        client,
        "/admin/account",
        {
            "current": PASSWORD,
            "password": "mo's new password",
            "confirm": "mo's new password",
        },
        "/admin/account",
    )
    assert changed.status_code == 302
    assert client.get("/admin/account").status_code == 200
    assert other.get("/admin/account").status_code == 302


def test_an_account_without_a_password_cannot_sign_in_with_one(app, client):
    make_person(app, "sso-only", password=None)
    assert login(client, "sso-only", "").status_code == 400
    assert login(client, "sso-only", "anything long").status_code == 401
