"""The ``ollama-gate`` command, installed from the checkout into a fresh virtualenv:
its help, ``init``, the admin commands, and ``serve`` listening where ``.env`` says;
pyproject.toml's pins agree with requirements.txt."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import requests

from tests.helpers.paths import ROOT
from tests.helpers.services import free_port

# what a checkout's package needs to build (the templates and migrations are linked
# into the package); copied, so the build leaves nothing in the checkout
SOURCES = ["pyproject.toml", "README.md", "ollama_gate", "templates", "migrations"]


def pins(lines: list[str]) -> set[str]:
    """The requirement lines of a requirements file or list, normalised."""
    out = set()
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            out.add(re.sub(r"[-_.]+", "-", line.lower()))
    return out


def test_pyproject_pins_the_same_versions_as_requirements_txt():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    required = pins((ROOT / "requirements.txt").read_text().splitlines())
    assert pins(project["dependencies"]) == required
    assert all("==" in pin for pin in required)
    assert project["scripts"]["ollama-gate"] == "ollama_gate.console:main"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any gateway setting: only ``.env`` sets them."""
    drop = ("OLLAMA_GATE_", "DATABASE_URL", "PORT", "WEB_CONCURRENCY", "FLASK_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return {**env, **extra}


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh virtualenv with the checkout installed (pip, not editable); the
    dependencies are the test run's own (a .pth file), so nothing is downloaded."""
    pytest.importorskip("setuptools", reason="building the package needs setuptools")
    tmp = tmp_path_factory.mktemp("console")
    source = tmp / "source"
    source.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(
                path,
                source / name,
                symlinks=True,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            )
        else:
            shutil.copy2(path, source / name)
    venv = tmp / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)],
        check=True,
        timeout=120,
    )
    python = venv / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # every site-packages this run sees (a virtualenv may chain to another's)
    ours = [p for p in sys.path if p.endswith("site-packages")]
    Path(site, "test-run-deps.pth").write_text("\n".join(ours) + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q"]
        + ["--no-deps", "--no-build-isolation", "--no-index", str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return venv / "bin" / "ollama-gate"


def run(command: Path, *args: str, cwd: Path, **env: str):
    """Run ``ollama-gate ARGS`` in ``cwd``; return the finished process."""
    return subprocess.run(
        [str(command), *args],
        cwd=cwd,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_command_has_the_projects_help_and_no_development_server(
    installed, tmp_path
):
    done = run(installed, "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    commands = set(re.findall(r"^  (\w+) ", done.stdout.split("Commands:")[1], re.M))
    assert {"serve", "init", "users", "keys", "backends", "models"} <= commands
    assert {"cache", "history", "db", "admins"} <= commands
    assert not {"run", "shell", "routes"} & commands
    assert "--app" not in done.stdout and "gateway in front of Ollama" in done.stdout
    keys = run(installed, "keys", "--help", cwd=tmp_path)
    assert "Manage API keys." in keys.stdout and "create" in keys.stdout


def test_init_keys_and_serve_in_a_working_directory_with_a_dotenv(
    installed, tmp_path, fake
):
    port = free_port()
    (tmp_path / ".env").write_text(
        f"OLLAMA_GATE_HOST=127.0.0.1\nPORT={port}\n"
        f"OLLAMA_GATE_BACKENDS=gpu={fake.url}\nOLLAMA_GATE_HEALTH_INTERVAL=3600\n"
    )
    first = run(installed, "init", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert first.stdout.strip().splitlines()[-1].startswith("og_")
    # the installed package, not the checkout: the database is in this directory
    assert (tmp_path / "instance" / "ollama_gate.db").exists()
    made = run(installed, "keys", "create", "default", "--name", "t", cwd=tmp_path)
    assert made.returncode == 0, made.stderr[-3000:]
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("og_")
    listed = run(installed, "backends", "list", cwd=tmp_path)  # .env's backend
    assert "gpu" in listed.stdout and fake.url in listed.stdout, listed.stdout

    log = open(tmp_path / "serve.log", "wb")
    server = subprocess.Popen(
        [str(installed), "serve"],
        cwd=tmp_path,
        env=clean_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        tags = None
        for _ in range(300):  # until the workers answer where .env said to listen
            if server.poll() is not None:
                break
            try:
                tags = requests.get(
                    url + "/api/tags",
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=30,  # the workers may still be booting
                )
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        text = (tmp_path / "serve.log").read_text()
        assert tags is not None, text[-3000:]
        assert tags.status_code == 200 and tags.json()["models"], tags.text
        assert f"Listening at: http://127.0.0.1:{port}" in text
        assert "GateWorker" in text or "Booting worker" in text
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        assert server.wait(60) == 0  # gunicorn itself: serve became it


def test_a_missing_env_file_is_named(installed, tmp_path):
    done = run(
        installed, "users", "list", cwd=tmp_path, OLLAMA_GATE_ENV_FILE="nope.env"
    )
    assert done.returncode != 0
    assert "OLLAMA_GATE_ENV_FILE=nope.env: no such file" in done.stderr + done.stdout
