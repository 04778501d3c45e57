"""``ollama-gate serve --init`` (what ``make run`` and the container run): migrations
quietly, then once the server is up one block with the admin URL at the real
address, on a fresh install the admin's password and the first key as ``export
KEY=...``, the backends and their models, and how to stop."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import requests

from ollama_gate.server.first_run import block, public_url
from tests.helpers.paths import ROOT
from tests.helpers.services import free_port


def serve(tmp_path, log_name: str) -> tuple[subprocess.Popen, str]:
    """Start ``python -m ollama_gate serve --init`` in ``tmp_path``; wait for the
    block; return the process and everything it printed so far."""
    log = tmp_path / log_name
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OLLAMA_GATE_", "DATABASE_URL", "PORT", "WEB_CONCURRENCY"))
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "ollama_gate", "serve", "--init"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    for _ in range(600):  # start-up, up to a minute on a loaded machine
        text = log.read_text()
        if "stop:" in text or proc.poll() is not None:
            return proc, text
        time.sleep(0.1)
    return proc, log.read_text()


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(60)


def test_the_first_run_block_then_a_restart_without_secrets(tmp_path, fake):
    port = free_port()
    (tmp_path / ".env").write_text(
        f"OLLAMA_GATE_HOST=127.0.0.1\nPORT={port}\n"
        f"OLLAMA_GATE_BACKENDS=gpu={fake.url}\n"
        f"OLLAMA_GATE_INSTANCE_PATH={tmp_path / 'instance'}\n"
        "OLLAMA_GATE_HEALTH_INTERVAL=3600\n"
    )
    proc, text = serve(tmp_path, "first.log")
    try:
        assert "stop:" in text, text[-3000:]
        shown = text[text.index("ollama-gate is ready at") :]
        assert f"ready at http://127.0.0.1:{port}" in shown
        assert f"admin UI:  http://127.0.0.1:{port}/admin" in shown
        assert re.search(r"admin 'admin', password:  \S{16,}", shown)
        key = re.search(r"export KEY=(og_\S+)", shown).group(1)
        assert f"backend gpu ({fake.url}): llama3.2:latest" in shown
        assert "Ctrl-C" in shown
        assert "Running upgrade" not in text  # migrations at warning level
        tags = requests.get(
            f"http://127.0.0.1:{port}/api/tags",
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        assert tags.status_code == 200
    finally:
        stop(proc)
    proc, text = serve(tmp_path, "again.log")
    try:
        assert "stop:" in text, text[-3000:]
        assert "export KEY" not in text and "password" not in text
        assert f"ready at http://127.0.0.1:{port}" in text
    finally:
        stop(proc)


def test_the_block_names_a_backend_that_is_down_and_a_public_address():
    text = block(
        {
            "urls": [public_url("http://0.0.0.0:8080")],
            "backends": [{"name": "gpu", "url": "http://x:1", "state": "down"}],
        }
    )
    assert "backend gpu (http://x:1): down" in text
    assert "0.0.0.0" not in text and ":8080/admin" in text
