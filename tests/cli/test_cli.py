"""The ``flask --app ollama_gate`` commands for users and keys, and their effect on the
API."""

from __future__ import annotations

from datetime import datetime

import pytest

from ollama_gate.extensions import db
from ollama_gate.keys import hash_key
from ollama_gate.models import ApiKey, User


def last_line(result) -> str:
    """The last printed line of a CLI result."""
    return result.output.strip().splitlines()[-1]


def test_init_is_idempotent_and_prints_one_key(app, runner, client, fake):
    first = runner.invoke(args=["init"])
    assert first.exit_code == 0, first.output
    key = last_line(first)
    assert key.startswith("og_") and len(key) >= 46
    again = runner.invoke(args=["init"])
    assert again.exit_code == 0 and key not in again.output
    with app.app_context():
        assert db.session.execute(db.select(db.func.count(ApiKey.id))).scalar() == 1
        stored = db.session.execute(db.select(ApiKey)).scalar_one()
        assert stored.key_hash == hash_key(key) and key not in (
            stored.prefix,
            stored.key_hash,
        )
    assert (
        client.get("/api/tags", headers={"Authorization": f"Bearer {key}"}).status_code
        == 200
    )


def test_users_create_list_delete(app, runner):
    assert runner.invoke(args=["users", "create", "bob"]).exit_code == 0
    dup = runner.invoke(args=["users", "create", "bob"])
    assert dup.exit_code != 0 and "already exists" in dup.output
    runner.invoke(args=["keys", "create", "bob"])
    listing = runner.invoke(args=["users", "list"]).output
    assert "bob" in listing and "keys=1" in listing
    assert runner.invoke(args=["users", "delete", "bob", "--yes"]).exit_code == 0
    with app.app_context():
        assert db.session.execute(db.select(User)).first() is None
        assert (
            db.session.execute(db.select(ApiKey)).first() is None
        )  # keys went with the user


def test_keys_lifecycle_through_cli(app, runner, client, fake):
    runner.invoke(args=["users", "create", "carol"])
    created = runner.invoke(
        args=[
            "keys",
            "create",
            "carol",
            "--name",
            "obsidian",
            "--expires",
            "2999-01-01",
        ]
    )
    assert created.exit_code == 0, created.output
    key = last_line(created)
    prefix = key[:11]
    headers = {"X-API-Key": key}
    listing = runner.invoke(args=["keys", "list"]).output
    assert (
        prefix in listing and "obsidian" in listing and "expires=2999-01-01" in listing
    )
    assert key not in listing
    assert client.get("/api/ps", headers=headers).status_code == 200

    assert runner.invoke(args=["keys", "disable", prefix]).exit_code == 0
    assert client.get("/api/ps", headers=headers).status_code == 403
    assert runner.invoke(args=["keys", "enable", prefix]).exit_code == 0
    assert client.get("/api/ps", headers=headers).status_code == 200
    assert runner.invoke(args=["keys", "revoke", prefix]).exit_code == 0
    assert client.get("/api/ps", headers=headers).status_code == 403
    again = runner.invoke(args=["keys", "enable", prefix])
    assert again.exit_code != 0 and "cannot be undone" in again.output


def test_expired_key_from_cli(app, runner, client, fake):
    """A key past its expiry (the CLI refuses a past one: core/test_key_rules.py)."""
    runner.invoke(args=["users", "create", "dan"])
    key = last_line(
        runner.invoke(
            args=["keys", "create", "dan", "--expires", "2999-01-01T00:00:00Z"]
        )
    )
    with app.app_context():  # time passes
        db.session.execute(db.update(ApiKey).values(expires_at=datetime(2001, 1, 1)))
        db.session.commit()
    assert "expired" in runner.invoke(args=["keys", "list"]).output
    assert client.get("/api/ps", headers={"X-API-Key": key}).status_code == 403


def test_cli_refuses_bad_input(app, runner):
    assert "no user named" in runner.invoke(args=["keys", "create", "nobody"]).output
    runner.invoke(args=["users", "create", "erin"])
    bad = runner.invoke(args=["keys", "create", "erin", "--expires", "soon"])
    assert bad.exit_code != 0 and "not a date" in bad.output
    assert (
        "no key with prefix" in runner.invoke(args=["keys", "revoke", "og_zzzz"]).output
    )


@pytest.mark.parametrize(
    "expires", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-01:00", "2026-02-30"]
)
def test_expiry_out_of_range_is_a_usage_error(app, runner, expires):
    """An expiry that overflows on conversion to UTC is refused, not a traceback."""
    runner.invoke(args=["users", "create", "erin"])
    bad = runner.invoke(args=["keys", "create", "erin", "--expires", expires])
    assert bad.exit_code == 2 and "not a date" in bad.output


@pytest.mark.parametrize(
    "name", ["", " ", "a\x00b", "bob\n", " bob", "a  b", "x" * 121]
)
def test_users_create_refuses_odd_names(app, runner, name):
    """The CLI takes the names the users page takes, and no others."""
    result = runner.invoke(args=["users", "create", name])
    assert result.exit_code == 2 and "letters, digits" in result.output
    with app.app_context():
        assert db.session.execute(db.select(User)).first() is None


def test_ambiguous_prefix_is_refused(app, runner):
    runner.invoke(args=["users", "create", "fay"])
    runner.invoke(args=["keys", "create", "fay"])
    runner.invoke(args=["keys", "create", "fay"])
    result = runner.invoke(args=["keys", "disable", "og_"])
    assert result.exit_code != 0 and "matches 2 keys" in result.output


def test_control_characters_in_names_never_reach_the_terminal(app, runner):
    """Issue 16: a key name with an escape sequence was printed as it was."""
    from tests.helpers.keys import add_key

    add_key(app, "mallory", name="\x1b]0;owned\x07\x1b[2J\u202etxt")
    for args in (["keys", "list"], ["users", "list"]):
        out = runner.invoke(args=args).output
        assert "\x1b" not in out and "\u202e" not in out and "\x07" not in out
    listed = runner.invoke(args=["keys", "list"]).output
    assert "\\x1b]0;owned\\x07\\x1b[2J\\u202etxt" in listed
    prefix = listed.split("\t", 1)[0]
    usage = runner.invoke(args=["keys", "usage", prefix]).output
    assert "\x1b" not in usage and "\\x1b" in usage


HINT = "run `flask --app ollama_gate init` (or `make run`)"


@pytest.fixture()
def empty_app(tmp_path, fake_server):
    """The app on a database that was never initialised (no tables at all)."""
    from ollama_gate import create_app

    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'empty.db'}",
            "BACKENDS": [fake_server.url],
        }
    )
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize(
    "args",
    [
        ["users", "list"],
        ["users", "create", "alice"],
        ["keys", "list"],
        ["keys", "set", "og_abcdefgh", "--queue-weight", "2"],
        ["admins", "list"],
    ],
)
def test_a_command_on_an_uninitialised_database_says_what_to_run(empty_app, args):
    result = empty_app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 1, result.output
    assert HINT in result.output
    assert "the database is not initialised" in result.output
    assert isinstance(result.exception, SystemExit)  # no exception escaped


def test_the_real_command_prints_the_hint_without_a_traceback(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent.parent
    env = {
        **os.environ,
        "PYTHONPATH": str(root),
        "OLLAMA_GATE_SECRET_KEY": "test-secret",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}",
        "OLLAMA_GATE_BACKENDS": "http://127.0.0.1:9",
    }
    flask = Path(sys.executable).with_name("flask")
    done = subprocess.run(
        [str(flask), "--app", "ollama_gate", "users", "list"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )
    assert done.returncode == 1
    assert HINT in done.stderr and "Traceback" not in done.stderr + done.stdout


@pytest.mark.needs_postgres
def test_the_hint_on_an_empty_postgresql_database(postgres_url, fake_server):
    from ollama_gate import create_app

    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "SQLALCHEMY_DATABASE_URI": postgres_url,
            "BACKENDS": [fake_server.url],
        }
    )
    result = app.test_cli_runner().invoke(args=["keys", "list"])
    with app.app_context():
        db.engine.dispose()
    assert result.exit_code == 1, result.output
    assert HINT in result.output and "no table api_keys" in result.output
