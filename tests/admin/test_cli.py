"""The ``admins`` commands, ``keys import`` and the first admin made by ``init``."""

from __future__ import annotations

import pytest

from ollama_gate.audit import AuditLog
from ollama_gate.extensions import db
from ollama_gate.keys import hash_key
from ollama_gate.models import ApiKey, User


def admins(app) -> dict[str, User]:
    """Every admin by name."""
    with app.app_context():
        rows = (
            db.session.execute(db.select(User).where(User.role == "admin"))
            .scalars()
            .all()
        )
        return {a.name: a for a in rows}


def test_init_creates_first_admin_once_and_key_stays_last(app, runner):
    first = runner.invoke(args=["init"])
    assert first.exit_code == 0, first.output
    lines = first.output.strip().splitlines()
    assert lines[-1].startswith("og_")  # the user's key is still alone on the last line
    admin_line = next(line for line in lines if "admin 'admin'" in line)
    password = admin_line.rsplit(": ", 1)[1]
    assert len(password) >= 16
    stored = admins(app)["admin"]
    assert password not in stored.password_hash and stored.check_password(password)
    assert stored.password_hash.startswith(("scrypt:", "pbkdf2:"))
    again = runner.invoke(args=["init"])
    assert (
        again.exit_code == 0
        and "admin" not in again.output
        and password not in again.output
    )
    assert len(admins(app)) == 1


def test_init_leaves_existing_admins_alone(app, runner):
    assert (
        runner.invoke(
            args=["admins", "create", "root", "--password", "long enough pw"]
        ).exit_code
        == 0
    )
    out = runner.invoke(args=["init"]).output
    assert "created admin" not in out
    assert set(admins(app)) == {"root"}


def test_admins_create_list_set_password_delete(app, runner):
    created = runner.invoke(
        args=["admins", "create", "ann", "--password", "first password"]
    )
    assert created.exit_code == 0, created.output
    dup = runner.invoke(
        args=["admins", "create", "ann", "--password", "first password"]
    )
    assert dup.exit_code != 0 and "already exists" in dup.output
    short = runner.invoke(args=["admins", "create", "bo", "--password", "short"])
    assert short.exit_code != 0 and "at least 10" in short.output
    prompted = runner.invoke(
        args=["admins", "create", "cy"], input="prompted password\nprompted password\n"
    )
    assert prompted.exit_code == 0, prompted.output
    assert admins(app)["cy"].check_password("prompted password")
    listing = runner.invoke(args=["admins", "list"]).output
    assert "ann" in listing and "cy" in listing and "last_login=-" in listing

    token = admins(app)["ann"].session_token
    changed = runner.invoke(
        args=["admins", "set-password", "ann", "--password", "second password"]
    )
    assert changed.exit_code == 0, changed.output
    ann = admins(app)["ann"]
    assert ann.check_password("second password") and not ann.check_password(
        "first password"
    )
    assert ann.session_token != token  # open sessions end with the old password
    assert runner.invoke(args=["admins", "delete", "ann", "--yes"]).exit_code == 0
    assert "ann" not in admins(app)
    missing = runner.invoke(args=["admins", "delete", "nobody", "--yes"])
    assert missing.exit_code != 0 and "no admin named" in missing.output
    with app.app_context():
        actions = db.session.execute(
            db.select(AuditLog.action, AuditLog.admin_name)
        ).all()
    assert ("admin_created", "cli") in actions and (
        "password_changed",
        "cli",
    ) in actions
    assert ("admin_deleted", "cli") in actions


def test_keys_import_stores_hashes_and_keys_work(app, runner, client, fake, tmp_path):
    good = ["sk-legacy-0123456789abcdef", "another-long-plain-key-42"]
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text(
        "# keys from the old proxy\n\n"
        + "\n".join(
            [
                good[0],
                "  " + good[1] + "  ",
                good[0],
                "short",
                "has space inside key",
            ]
        )
        + "\n"
    )
    result = runner.invoke(args=["keys", "import", str(keys_file), "--user", "legacy"])
    assert result.exit_code == 0, result.output
    assert "imported 2 key(s)" in result.output and "skipped 3" in result.output
    for plain in good + ["has space inside key"]:
        assert plain not in result.output  # keys are never echoed, even when skipped
    with app.app_context():
        rows = (
            db.session.execute(
                db.select(ApiKey).join(User).where(User.name == "legacy")
            )
            .scalars()
            .all()
        )
        assert sorted(r.key_hash for r in rows) == sorted(hash_key(k) for k in good)
        assert all(r.name == "imported" for r in rows)
    for plain in good:
        assert client.get("/api/tags", headers={"apikey": plain}).status_code == 200
    again = runner.invoke(args=["keys", "import", str(keys_file), "--user", "legacy"])
    assert "imported 0 key(s)" in again.output

    allowed = runner.invoke(
        args=["keys", "import", str(keys_file), "--user", "legacy", "--allow-short"]
    )
    assert "imported 1 key(s)" in allowed.output
    assert client.get("/api/tags", headers={"X-API-Key": "short"}).status_code == 200


@pytest.mark.parametrize("args", [["--user", "x"], []])
def test_keys_import_needs_file_and_user(runner, tmp_path, args):
    if args:
        result = runner.invoke(
            args=["keys", "import", str(tmp_path / "missing.txt"), *args]
        )
    else:
        (tmp_path / "k.txt").write_text("a-long-enough-imported-key\n")
        result = runner.invoke(args=["keys", "import", str(tmp_path / "k.txt")])
    assert result.exit_code != 0


def test_user_and_key_commands_are_audited(app, runner):
    runner.invoke(args=["users", "create", "gus"])
    key = runner.invoke(args=["keys", "create", "gus", "--name", "cron"]).output
    prefix = key.strip().splitlines()[-1][:11]
    for action in ("disable", "enable", "revoke"):
        assert runner.invoke(args=["keys", action, prefix]).exit_code == 0
    assert runner.invoke(args=["users", "delete", "gus", "--yes"]).exit_code == 0
    with app.app_context():
        rows = db.session.execute(db.select(AuditLog).order_by(AuditLog.id)).scalars()
        got = [(r.action, r.target, r.admin_name, r.client_addr) for r in rows]
    target = f"{prefix} (gus)"
    assert got == [
        ("user_created", "gus", "cli", "local"),
        ("key_created", target, "cli", "local"),
        ("key_disabled", target, "cli", "local"),
        ("key_enabled", target, "cli", "local"),
        ("key_revoked", target, "cli", "local"),
        ("user_deleted", "gus", "cli", "local"),
    ]


def test_init_under_systemd_keeps_its_secrets_out_of_the_journal(
    app, runner, monkeypatch
):
    """Issue 16: the password and the manage key went into the journal."""
    import os
    import stat

    monkeypatch.setenv("JOURNAL_STREAM", "8:12345")  # what systemd sets
    out = runner.invoke(args=["init"]).output
    path = os.path.join(app.instance_path, "initial-secrets.txt")
    try:
        kept = open(path).read()
        assert "og_" not in out and "og_" in kept
        lines = kept.splitlines()
        password = lines[
            lines.index(next(x for x in lines if "admin 'admin'" in x)) + 1
        ]
        assert password not in out and admins(app)["admin"].check_password(password)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert f"written to {path}" in out
    finally:
        os.remove(path)
