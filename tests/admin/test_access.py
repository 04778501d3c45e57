"""The user page's *Sign-in* section (``admin/access.py``): roles set by an admin,
audited, never one's own; the invitation button is in ``tests/accounts``."""

from __future__ import annotations

from ollama_gate.audit import AuditLog
from ollama_gate.extensions import db
from ollama_gate.models import User
from tests.helpers.admin import login, make_admin, make_person, post


def role_of(app, user_id: int) -> str:
    """The stored role of the user ``user_id``."""
    with app.app_context():
        return db.session.get(User, user_id).role


def test_an_admin_sets_roles_but_not_their_own(app, client):
    root = make_admin(app)
    ann = make_person(app, "ann")
    login(client)
    page = f"/admin/users/{ann}"
    made = post(client, f"{page}/role", {"role": "team_admin"}, page)
    assert made.status_code == 302 and role_of(app, ann) == "team_admin"
    assert "ann is now team admin" in client.get(page).get_data(as_text=True)
    users = client.get("/admin/users").get_data(as_text=True)
    assert "team admin</span>" in users and "admin</span>" in users  # ann, root
    bad = post(client, f"{page}/role", {"role": "owner"}, page)
    assert bad.status_code == 400 and role_of(app, ann) == "team_admin"
    own = post(client, f"/admin/users/{root}/role", {"role": "member"}, page)
    assert own.status_code == 302 and role_of(app, root) == "admin"
    with app.app_context():
        rows = db.session.execute(
            db.select(AuditLog).where(AuditLog.action == "role_changed")
        ).scalars()
        assert [(r.admin_name, r.target, r.detail) for r in rows] == [
            ("root", "ann", "Member -> Team admin")
        ]
    audit_page = client.get("/admin/audit").get_data(as_text=True)
    assert "Role changed" in audit_page
