"""Deployment: the systemd unit verified, the Procfile's processes, and a graceful
shutdown (SIGTERM lets a stream in flight finish and its record be written)."""

from __future__ import annotations

import configparser
import json
import os
import shutil
import signal
import subprocess
import sys

import pytest
import requests

from ollama_gate import console
from ollama_gate.extensions import db
from ollama_gate.history.models import Request
from tests.helpers.live import LiveGateway
from tests.helpers.paths import ROOT

UNIT = ROOT / "deploy" / "ollama-gate.service"


def unit_here(tmp_path, text: str | None = None):
    """The unit with /opt/ollama-gate pointed at this checkout (its .venv exists)."""
    path = tmp_path / "ollama-gate.service"
    path.write_text((text or UNIT.read_text()).replace("/opt/ollama-gate", str(ROOT)))
    return path


def verify(path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["systemd-analyze", "verify", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (apt-get install systemd)",
)


@needs_systemd_analyze
@pytest.mark.skipif(
    not (ROOT / ".venv" / "bin" / "ollama-gate").exists(),
    reason="the unit runs .venv/bin/ollama-gate, which `make test` builds",
)
def test_the_unit_verifies(tmp_path):
    done = verify(unit_here(tmp_path))
    complaints = [line for line in done.stderr.splitlines() if "ollama-gate" in line]
    assert done.returncode == 0 and complaints == [], done.stderr


@needs_systemd_analyze
def test_the_verification_finds_a_broken_unit(tmp_path):
    broken = UNIT.read_text().replace("Restart=on-failure", "Restart=sometimes")
    done = verify(unit_here(tmp_path, broken))
    assert "restart specifier" in done.stderr


def test_the_unit_runs_unprivileged_with_its_settings_and_a_restart_policy():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read_string(UNIT.read_text())
    service = unit["Service"]
    assert service["User"] not in ("", "root") and service["Group"] != "root"
    assert service["EnvironmentFile"] == "/etc/ollama-gate.env"
    assert service["Restart"] == "on-failure"
    assert service["ExecStartPre"] == "/opt/ollama-gate/.venv/bin/ollama-gate init"
    assert service["ExecStart"] == "/opt/ollama-gate/.venv/bin/ollama-gate serve"
    for hardening in ("NoNewPrivileges", "ProtectSystem", "PrivateTmp"):
        assert service[hardening] in ("true", "strict"), hardening
    # systemd waits longer than gunicorn's grace before it kills anything
    stop = int(service["TimeoutStopSec"])
    assert stop > int(gunicorn_config({})["graceful_timeout"])


def gunicorn_config(env: dict[str, str]) -> dict[str, str]:
    """gunicorn's settings as ``ollama-gate serve`` gives them, with ``env``."""
    done = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", console.CONFIG]
        + ["--print-config", console.APP],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    pairs = (line.split(" = ", 1) for line in done.stdout.splitlines())
    return {pair[0].strip(): pair[1].strip() for pair in pairs if len(pair) == 2}


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def test_the_procfile_web_process_honours_port_and_web_concurrency():
    # `python -m ollama_gate` is the ollama-gate command, installed or not (a PaaS
    # installs requirements.txt only)
    assert procfile()["web"] == "python -m ollama_gate serve"
    config = gunicorn_config({"PORT": "9123", "WEB_CONCURRENCY": "3"})
    assert config["bind"] == "['0.0.0.0:9123']"
    assert config["workers"] == "3"
    assert config["worker_class"] == "ollama_gate.server.worker.GateWorker"


def test_the_procfile_release_runs_the_migrations(tmp_path):
    assert procfile()["release"] == "python -m ollama_gate init"
    url = f"sqlite:///{tmp_path / 'release.db'}"
    command = procfile()["release"].split()
    run = [sys.executable, *command[1:]]
    env = {**os.environ, "DATABASE_URL": url}
    for _ in range(2):  # idempotent: a second release changes nothing
        subprocess.run(
            run, cwd=ROOT, env=env, check=True, capture_output=True, timeout=120
        )
    current = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "ollama_gate", "db", "current"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "(head)" in current.stdout


def test_sigterm_lets_a_stream_finish_and_records_it(tmp_path, fake):
    """SIGTERM to gunicorn mid-stream: no new connections, the stream runs to its
    last token within the grace period, its record is written (the worker writes
    its queued records as it leaves), gunicorn exits without waiting for an idle
    kept-alive connection."""
    grace = 60  # far longer than the stream: the gateway must not wait it out
    gw = LiveGateway(
        tmp_path, fake.url, env={"OLLAMA_GATE_GRACEFUL_TIMEOUT": str(grace)}
    ).start()
    try:
        key = gw.key()
        idle = requests.Session()  # a kept-alive client between two calls
        assert idle.get(gw.url + "/healthz", timeout=10).status_code == 200
        fake.chunk_delay = 0.25  # 12 tokens: about 3 s, well inside the 30 s grace
        reply = requests.post(
            gw.url + "/api/generate",
            json={
                "model": "llama3.2",
                "prompt": "Count slowly",
                "options": {"num_predict": 12},
            },
            headers={"Authorization": f"Bearer {key}"},
            stream=True,
            timeout=30,
        )
        lines = reply.iter_lines()
        first = json.loads(next(lines))
        assert first["done"] is False
        os.kill(gw.proc.pid, signal.SIGTERM)
        rest = [json.loads(line) for line in lines if line]
        assert rest[-1]["done"] is True and rest[-1]["eval_count"] == 12
        assert len(rest) == 12  # every token after the first, then the end
        # gunicorn left by itself once the stream ended: the idle connection was
        # closed, not waited for (the grace is 60 s; the stream took about 3)
        assert gw.proc.wait(grace / 3) == 0
        with pytest.raises(requests.ConnectionError):
            requests.get(gw.url + "/healthz", timeout=2)
        with gw.app.app_context():
            rows = db.session.execute(db.select(Request)).scalars().all()
        generated = [r for r in rows if r.endpoint == "/api/generate"]
        assert len(generated) == 1, rows
        assert generated[0].completed and generated[0].status == 200
        assert generated[0].completion_tokens == 12
        assert "Worker graceful timeout" not in gw.log_path.read_text()
    finally:
        fake.chunk_delay = 0.0
        gw.stop()
