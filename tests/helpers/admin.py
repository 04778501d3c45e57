"""Helpers for the admin UI tests: an admin account, CSRF tokens, logged-in clients."""

from __future__ import annotations

import re

from ollama_gate.admin.models import Admin
from ollama_gate.extensions import db

PASSWORD = "a long test password"
_TOKEN = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


def make_admin(app, name: str = "root", password: str = PASSWORD) -> None:
    """Create an admin account directly in the database."""
    with app.app_context():
        admin = Admin(name=name)
        admin.set_password(password)
        db.session.add(admin)
        db.session.commit()


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
