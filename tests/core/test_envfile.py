"""One configuration: the environment, then ``.env`` in the working directory (or
OLLAMA_GATE_ENV_FILE), for the app, every command and gunicorn's own settings (bind,
port, workers, timeouts)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ollama_gate.envfile import env_file_path
from tests.helpers.paths import ROOT

GUNICORN = ["-m", "gunicorn", "-c", "gunicorn.conf.py", "--print-config", "wsgi:app"]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any gateway setting."""
    drop = ("OLLAMA_GATE_", "DATABASE_URL", "PORT", "WEB_CONCURRENCY")
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(drop)},
        **extra,
    }


def gunicorn_config(cwd, **env: str) -> dict[str, str]:
    """gunicorn's settings as it reads the checkout's gunicorn.conf.py in ``cwd``."""
    done = subprocess.run(
        [sys.executable, *GUNICORN[:3], str(ROOT / "gunicorn.conf.py"), *GUNICORN[4:]],
        cwd=cwd,
        env={**clean_env(**env), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    pairs = (line.split(" = ", 1) for line in done.stdout.splitlines())
    return {pair[0].strip(): pair[1].strip() for pair in pairs if len(pair) == 2}


SERVER_SETTINGS = (
    "OLLAMA_GATE_HOST=127.0.0.1\nPORT=9311\nWEB_CONCURRENCY=3\n"
    "OLLAMA_GATE_GRACEFUL_TIMEOUT=7\nOLLAMA_GATE_WORKER_CONNECTIONS=50\n"
)


def test_dotenv_in_the_working_directory_sets_bind_port_workers_and_timeouts(
    tmp_path,
):
    (tmp_path / ".env").write_text(SERVER_SETTINGS)
    config = gunicorn_config(tmp_path)
    assert config["bind"] == "['127.0.0.1:9311']"
    assert config["workers"] == "3" and config["graceful_timeout"] == "7"
    assert config["worker_connections"] == "50"


def test_the_env_file_setting_names_another_file_and_the_environment_wins(tmp_path):
    (tmp_path / "gate.env").write_text(SERVER_SETTINGS)
    config = gunicorn_config(
        tmp_path, OLLAMA_GATE_ENV_FILE=str(tmp_path / "gate.env"), PORT="9312"
    )
    assert config["bind"] == "['127.0.0.1:9312']" and config["workers"] == "3"


def test_without_a_settings_file_the_defaults_hold(tmp_path):
    config = gunicorn_config(tmp_path)
    assert config["bind"] == "['0.0.0.0:8080']" and config["workers"] == "1"


def test_the_app_and_the_commands_read_the_same_file(tmp_path):
    """The CLI and the server agree: both build the app, which reads the file."""
    (tmp_path / ".env").write_text(
        "OLLAMA_GATE_BACKENDS=gpu9=http://10.9.9.9:11434\n"
        f"DATABASE_URL=sqlite:///{tmp_path / 'g.db'}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "ollama_gate", "backends", "list"],
        cwd=tmp_path,
        env={**clean_env(), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "gpu9" in done.stdout and "http://10.9.9.9:11434" in done.stdout


def test_a_named_file_that_is_missing_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("OLLAMA_GATE_ENV_FILE", str(tmp_path / "missing.env"))
    with pytest.raises(RuntimeError, match="OLLAMA_GATE_ENV_FILE=.*missing.env"):
        env_file_path()
    monkeypatch.delenv("OLLAMA_GATE_ENV_FILE")
    monkeypatch.chdir(tmp_path)
    assert env_file_path() is None
    (tmp_path / ".env").write_text("X=1\n")
    assert env_file_path() == ".env"


def test_the_instance_path_setting_places_the_database_and_secret_key(tmp_path):
    from ollama_gate import create_app

    app = create_app({"INSTANCE_PATH": str(tmp_path / "data"), "SECRET_KEY": ""})
    assert app.instance_path == str(tmp_path / "data")
    assert (tmp_path / "data" / "ollama_gate.db").exists()
    assert (tmp_path / "data" / "secret_key").exists()
