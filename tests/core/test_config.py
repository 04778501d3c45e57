"""Settings: parsing, defaults, the production secret rule, and the settings reference
(docs/settings.md, where the README's table moved)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ollama_gate.config import (
    SETTINGS,
    ensure_secret_key,
    load_settings,
)
from ollama_gate.routing.backends import parse_backends

REFERENCE = (
    Path(__file__).resolve().parent.parent.parent / "docs" / "settings.md"
).read_text()


@pytest.mark.parametrize("name", [name for name, *_ in SETTINGS])
def test_every_setting_is_in_the_settings_reference(name):
    assert f"`OLLAMA_GATE_{name}`" in REFERENCE


def test_defaults_and_overlay():
    defaults = load_settings({})
    assert defaults["BACKENDS"] == ["http://127.0.0.1:11434"]
    assert defaults["READ_TIMEOUT"] == 600
    s = load_settings(
        {
            "OLLAMA_GATE_READ_TIMEOUT": "0",
            "OLLAMA_GATE_BACKENDS": "a=http://x:1/, b=http://y:2",
            "DATABASE_URL": "postgres://u@h/db",
        }
    )
    assert s["READ_TIMEOUT"] is None
    assert [(b.name, b.url) for b in parse_backends(s["BACKENDS"])] == [
        ("a", "http://x:1"),
        ("b", "http://y:2"),
    ]
    assert s["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"


def test_bad_setting_names_the_variable():
    with pytest.raises(RuntimeError, match="OLLAMA_GATE_POOL_SIZE"):
        load_settings({"OLLAMA_GATE_POOL_SIZE": "many"})


def test_production_needs_a_secret(tmp_path):
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        ensure_secret_key({"ENV_NAME": "production", "SECRET_KEY": ""}, str(tmp_path))
    dev = {"ENV_NAME": "development", "SECRET_KEY": ""}
    ensure_secret_key(dev, str(tmp_path))
    again = {"ENV_NAME": "development", "SECRET_KEY": ""}
    ensure_secret_key(again, str(tmp_path))
    assert len(dev["SECRET_KEY"]) > 40 and dev["SECRET_KEY"] == again["SECRET_KEY"]


def test_production_without_a_secret_key_refuses_to_start(tmp_path, monkeypatch):
    """Issue 16: the guard read the wrong config key and let production start."""
    from ollama_gate import create_app

    monkeypatch.delenv("OLLAMA_GATE_SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="SECRET_KEY is required"):
        create_app(
            {
                "ENV": "production",
                "SECRET_KEY": "",
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'p.db'}",
            }
        )


def test_development_secret_key_file_is_private(tmp_path):
    import stat

    from ollama_gate.config import ensure_secret_key

    config: dict = {"ENV_NAME": "development"}
    ensure_secret_key(config, str(tmp_path))
    mode = stat.S_IMODE((tmp_path / "secret_key").stat().st_mode)
    assert mode == 0o600 and len(config["SECRET_KEY"]) > 40


def test_database_wal_and_instance_folder_are_private(tmp_path):
    """Issue 16: they were readable by every local user."""
    import stat

    from ollama_gate import create_app
    from ollama_gate.extensions import db
    from ollama_gate.models import User

    path = tmp_path / "data" / "gate.db"
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "SECRET_KEY": "s"}
    )
    with app.app_context():
        db.create_all()
        db.session.add(User(name="someone"))
        db.session.commit()
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in path.parent.iterdir()}
        db.engine.dispose()
    assert modes["gate.db"] == 0o600
    assert all(mode == 0o600 for name, mode in modes.items() if "gate.db" in name)
    assert stat.S_IMODE(os.stat(app.instance_path).st_mode) == 0o700


def test_an_old_world_readable_database_is_tightened(tmp_path):
    import stat

    from ollama_gate import create_app

    path = tmp_path / "old.db"
    path.write_bytes(b"")
    path.chmod(0o644)
    create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "SECRET_KEY": "s"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
