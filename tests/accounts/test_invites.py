"""Invitations: a one-time, expiring link to set a password, only its hash stored
(``accounts.invitations``, ``accounts.pages``, ``users invite``, the user page)."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest

from ollama_gate.accounts.invitations import Invitation
from ollama_gate.audit import AuditLog
from ollama_gate.extensions import db
from ollama_gate.models import User
from tests.helpers.admin import csrf_token, login, make_admin, make_person, post

LINK = re.compile(r"(https?://[^\s<\"]+/invite/([A-Za-z0-9_-]+))")
NEW = "my chosen password"


def invite(runner, name: str = "ann", *args: str) -> tuple[str, str]:
    """Run ``users invite`` for ``name``; (the link, its token)."""
    result = runner.invoke(
        args=["users", "invite", name, "--url", "https://gate.example", *args]
    )
    assert result.exit_code == 0, result.output
    links = LINK.findall(result.output)
    assert len(links) == 1, result.output  # shown once
    return links[0]


def use(client, token: str, password: str = NEW, confirm: str | None = None, form=""):
    """Post the invitation page's form (its CSRF token from ``form``: a page that
    shows no form, for a link that does not work)."""
    path = f"/invite/{token}"
    data = {"password": password, "confirm": confirm or password}
    token_from = csrf_token(client, form or path)
    return client.post(path, data={**data, "csrf_token": token_from})


def actions(app) -> list[tuple[str, str, str]]:
    """(action, actor, detail) of every audit entry."""
    with app.app_context():
        rows = db.session.execute(db.select(AuditLog).order_by(AuditLog.id)).scalars()
        return [(r.action, r.admin_name, r.detail) for r in rows]


def test_a_link_sets_a_password_once_and_signs_in(app, client, runner):
    make_person(app, "ann", password=None)
    link, token = invite(runner)
    assert link.startswith("https://gate.example/invite/")
    with app.app_context():
        stored = db.session.execute(db.select(Invitation)).scalar_one()
        assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in stored.token_hash
        assert timedelta(hours=71) < stored.expires_at - stored.created_at
    page = client.get(f"/invite/{token}")
    assert page.status_code == 200 and "Welcome, ann" in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    mismatch = use(client, token, confirm="something else")
    assert mismatch.status_code == 400
    done = use(client, token)
    assert done.status_code == 302 and done.headers["Location"] == "/portal/"
    assert client.get("/admin/account").status_code == 200  # signed in
    with app.app_context():
        ann = db.session.execute(db.select(User).where(User.name == "ann")).scalar_one()
        assert ann.check_password(NEW) and ann.last_login_at is not None
    again = app.test_client()
    assert again.get(f"/invite/{token}").status_code == 404  # used
    assert (
        use(again, token, "another password!", form="/admin/login").status_code == 404
    )
    assert login(again, "ann", NEW).status_code == 302
    logged = actions(app)
    assert ("invite_created", "cli", "valid 72 hours") in logged
    assert ("invite_used", "ann", "") in logged
    assert ("login", "ann", "method=invite") in logged
    assert ("login", "ann", "method=password") in logged


def test_an_expired_link_and_a_replaced_one_are_refused(app, client, runner):
    make_person(app, "ann", password=None)
    _, old = invite(runner)
    _, new = invite(runner, "ann", "--hours", "1")
    assert client.get(f"/invite/{old}").status_code == 404  # replaced by the new one
    with app.app_context():
        row = db.session.execute(
            db.select(Invitation).where(Invitation.used_at.is_(None))
        ).scalar_one()
        row.expires_at = row.created_at  # its hour has passed
        db.session.commit()
    assert client.get(f"/invite/{new}").status_code == 404
    assert use(client, new, form="/admin/login").status_code == 404
    for bad in ("nonsense", "x" * 300):
        assert client.get(f"/invite/{bad}").status_code == 404


@pytest.mark.parametrize(
    "args, message",
    [
        (["nobody", "--url", "https://g"], "nobody"),
        (["ann"], "--url"),
        (["ann", "--url", "gate.example"], "http"),
        (["ann", "--url", "https://g", "--hours", "0"], "hours"),
        (["ann", "--url", "https://g", "--hours", "100000"], "hours"),
    ],
)
def test_the_invite_command_refuses_bad_input(app, runner, args, message):
    make_person(app, "ann")
    result = runner.invoke(args=["users", "invite", *args])
    assert result.exit_code != 0 and message in result.output
    with app.app_context():
        assert db.session.execute(db.select(Invitation)).first() is None


def test_the_user_page_makes_a_link_shown_once(app, client):
    make_admin(app)
    bo = make_person(app, "bo", password=None)
    login(client)
    page = client.get(f"/admin/users/{bo}").get_data(as_text=True)
    assert "Invite link" in page and 'id="role-form"' in page
    made = post(client, f"/admin/users/{bo}/invite", {}, f"/admin/users/{bo}")
    html = made.get_data(as_text=True)
    assert made.status_code == 200 and made.headers["Cache-Control"] == "no-store"
    ((link, token),) = set(LINK.findall(html))
    assert link.startswith("http://localhost/invite/")  # the request's host
    assert token not in client.get(f"/admin/users/{bo}").get_data(as_text=True)
    assert ("invite_created", "root", "valid 72 hours") in actions(app)
    other = app.test_client()
    assert use(other, token).status_code == 302


def test_local_passwords_off_hides_and_refuses_the_password_ways(tmp_path, fake):
    from ollama_gate import create_app

    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "s",
            "BACKENDS": [fake.url],
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'off.db'}",
            "LOCAL_PASSWORDS": False,
            "WTF_CSRF_ENABLED": False,  # (no form, no token): the refusal is ours
        }
    )
    with app.app_context():
        db.create_all()
    make_admin(app)
    runner = app.test_cli_runner()
    _, token = invite(runner, "root")  # the CLI still works (with a warning)
    client = app.test_client()
    page = client.get("/admin/login")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="password-login"' not in html
    assert "turned off" in html
    refused = client.post(
        "/admin/login", data={"name": "root", "password": "a long test password"}
    )
    assert refused.status_code == 403
    assert client.get("/admin/users").status_code == 302  # not signed in
    assert client.get(f"/invite/{token}").status_code == 403
    result = runner.invoke(
        args=["users", "password", "root", "--password-stdin"],
        input="a new long password\n",
    )
    assert result.exit_code == 0, result.output  # an admin's way back in
