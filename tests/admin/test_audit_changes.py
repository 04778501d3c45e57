"""Audit entries name the fields that changed (``field: before → after``), for key
states as for settings, from the admin pages and the CLI alike."""

from __future__ import annotations

from ollama_gate.audit import AuditLog
from ollama_gate.changes import change_detail, fields_changed
from ollama_gate.extensions import db
from ollama_gate.models import ApiKey
from tests.helpers.admin import login, make_admin, post


def details(app, action: str) -> list[str]:
    with app.app_context():
        rows = db.session.execute(
            db.select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)
        ).scalars()
        return [r.detail for r in rows]


def test_fields_changed_names_only_what_changed():
    before = {"a": 1, "b": "x y", "c": None}
    after = {"a": 2, "b": "x y", "d": "new"}
    assert fields_changed(before, after) == ["a: 1 → 2", "d: none → new"]
    assert change_detail({"a": 1}, {"a": 1}) == "nothing changed"


def test_key_states_name_before_and_after_from_cli_and_pages(app, runner, client):
    assert runner.invoke(args=["users", "create", "alice"]).exit_code == 0
    made = runner.invoke(args=["keys", "create", "alice"])
    prefix = made.output.split("created key ")[1].split()[0]
    assert runner.invoke(args=["keys", "disable", prefix]).exit_code == 0
    assert details(app, "key_disabled") == ["state: active → disabled"]
    make_admin(app)
    login(client)
    with app.app_context():
        key_id = db.session.execute(db.select(ApiKey.id)).scalar_one()
    page = f"/admin/keys/{key_id}"
    assert post(client, f"{page}/enable", {}, page).status_code == 302
    assert details(app, "key_enabled") == ["state: disabled → active"]
    assert post(client, f"{page}/revoke", {}, f"{page}/revoke").status_code == 302
    assert details(app, "key_revoked") == ["state: active → revoked"]
