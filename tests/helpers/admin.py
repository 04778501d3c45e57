"""Helpers for the admin UI tests: accounts (an admin, a person), CSRF tokens,
logged-in clients."""

from __future__ import annotations

import re

from ollama_gate.extensions import db
from ollama_gate.models import Team, User

PASSWORD = "a long test password"
_TOKEN = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


def make_admin(app, name: str = "root", password: str = PASSWORD) -> int:
    """Create a user with the admin role and a password; return its id."""
    return make_person(app, name, password, role="admin")


def make_person(
    app,
    name: str,
    password: str | None = PASSWORD,
    role: str = "member",
    team: str | None = None,
) -> int:
    """Create a user with ``role`` and ``password`` (None: no local password), in
    the team named ``team`` (made if missing); return its id."""
    with app.app_context():
        person = User(name=name, role=role)
        if password is not None:
            person.set_password(password)
        if team is not None:
            found = db.session.execute(
                db.select(Team).where(Team.name == team)
            ).scalar_one_or_none()
            person.team = found or Team(name=team)
        db.session.add(person)
        db.session.commit()
        return person.id


def csrf_token(client, path: str = "/admin/login") -> str:
    """The CSRF token of the form on ``path``."""
    html = client.get(path).get_data(as_text=True)
    match = _TOKEN.search(html)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(
    client,
    name: str = "root",
    password: str = PASSWORD,
    next_url: str = "",
    environ: dict | None = None,
    **kwargs,
):
    """Post the login form (``kwargs`` go to the test client); return the response."""
    token = csrf_token(client)
    return client.post(
        "/admin/login",
        data={
            "name": name,
            "password": password,
            "next": next_url,
            "csrf_token": token,
        },
        environ_base=environ or {},
        **kwargs,
    )


def post(client, path: str, data: dict | None = None, form_page: str = "/admin/users"):
    """Post ``data`` to ``path`` with a valid CSRF token taken from ``form_page``."""
    return client.post(
        path, data={**(data or {}), "csrf_token": csrf_token(client, form_page)}
    )
