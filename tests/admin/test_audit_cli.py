"""Changes made with the CLI are audited like the UI's, before and after values."""

from __future__ import annotations

import json

from ollama_gate.audit import AuditLog
from ollama_gate.extensions import db
from tests.helpers.keys import add_key


def entries(app) -> list[tuple[str, str, str, str]]:
    """(action, target, detail, admin) of every audit entry, oldest first."""
    with app.app_context():
        rows = db.session.execute(db.select(AuditLog).order_by(AuditLog.id)).scalars()
        return [(r.action, r.target, r.detail, r.admin_name) for r in rows]


def test_limits_scopes_and_history_mode_changes_are_audited(app, runner):
    plain = add_key(app, "alice", calls_per_day=5)
    prefix = plain[:11]
    out = runner.invoke(
        args=["keys", "set", prefix, "--calls-per-day", "10", "--scopes", "manage"]
    )
    assert out.exit_code == 0, out.output
    action, target, detail, admin = entries(app)[-1]
    assert (action, target, admin) == ("key_updated", f"{prefix} (alice)", "cli")
    assert "calls_per_day: 5 → 10" in detail and "scopes: none → manage" in detail
    assert runner.invoke(args=["history", "mode", prefix, "off"]).exit_code == 0
    assert entries(app)[-1][2] == "history_mode: none → off"
    count = len(entries(app))
    runner.invoke(args=["history", "mode", prefix, "off"])  # no change: no entry
    assert len(entries(app)) == count


def test_history_import_and_purge_are_audited(app, runner, tmp_path):
    path = tmp_path / "h.jsonl"
    row = {
        "id": "01JAAAAAAAAAAAAAAAAAAAAAAA",
        "started_at": "2020-01-01T00:00:00",
        "endpoint": "/api/chat",
    }
    path.write_text(json.dumps(row) + "\n")
    out = runner.invoke(args=["history", "import", str(path)])
    assert out.exit_code == 0, out.output
    action, target, detail, admin = entries(app)[-1]
    assert (action, admin) == ("history_imported", "cli") and target.endswith("h.jsonl")
    assert detail == "1 added, 0 skipped"
    out = runner.invoke(args=["history", "purge", "--before", "2021-01-01"])
    assert out.exit_code == 0, out.output
    action, _, detail, _ = entries(app)[-1]
    assert action == "history_purged" and detail.endswith("1 deleted")


def test_a_queue_weight_set_alone_is_audited(app, runner):
    plain = add_key(app, "alice")
    prefix = plain[:11]
    out = runner.invoke(args=["keys", "set", prefix, "--queue-weight", "4"])
    assert out.exit_code == 0, out.output
    assert "queue weight: 4" in out.output
    assert entries(app)[-1][:3] == (
        "key_updated",
        f"{prefix} (alice)",
        "queue_weight: none → 4",
    )
