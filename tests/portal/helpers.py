"""Helpers for the portal tests: a person signed in on a test client, in a team."""

from __future__ import annotations

import re

from ollama_gate.extensions import db
from ollama_gate.models import ApiKey, Team, User
from tests.helpers.admin import PASSWORD, csrf_token, login, make_person

CHAT = {"model": "llama3.2", "messages": [{"role": "user", "content": "Hi"}]}


def make_team(app, name: str = "ml", **policy) -> None:
    """A team with ``policy`` (its columns, e.g. portal_max_keys=3)."""
    with app.app_context():
        db.session.add(Team(name=name, **policy))
        db.session.commit()


def sign_in(app, client, name: str = "alice", team: str | None = "ml") -> int:
    """Make ``name`` a member (of ``team``) with a password, sign in; their id."""
    uid = make_person(app, name, PASSWORD, role="member", team=team)
    resp = login(client, name, PASSWORD)
    assert resp.status_code == 302, resp.text
    assert resp.headers["Location"].endswith("/portal/")  # members land there
    return uid


def post(client, path: str, data: dict | None = None):
    """Post ``data`` with a CSRF token from the portal's own page."""
    token = csrf_token(client, "/portal/")
    return client.post(path, data={**(data or {}), "csrf_token": token})


def create(client, **fields):
    """Post the new-key form; the response."""
    return post(client, "/portal/keys", fields)


SECRET = re.compile(r'<code id="new-key">(og_[^<]+)</code>')


def created_secret(client, resp) -> str:
    """Follow a create's redirect to the one-time page; the secret on it."""
    assert resp.status_code == 303, resp.text
    page = client.get(resp.headers["Location"])
    assert page.status_code == 200
    return SECRET.search(page.text).group(1)


def keys_of(app, name: str) -> list[ApiKey]:
    """The person's keys, detached."""
    with app.app_context():
        rows = list(
            db.session.execute(
                db.select(ApiKey)
                .join(User)
                .where(User.name == name)
                .order_by(ApiKey.id)
            ).scalars()
        )
        for row in rows:
            db.session.expunge(row)
        return rows
