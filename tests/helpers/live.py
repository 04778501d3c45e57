"""A live gateway: the real app under gunicorn with gevent workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from ollama_gate import create_app
from ollama_gate.extensions import db
from tests.helpers.keys import add_key
from tests.helpers.paths import ROOT
from tests.helpers.services import free_port


class LiveGateway:
    """The real app under gunicorn with gevent workers, as a subprocess."""

    def __init__(
        self,
        tmp: Path,
        backend: str,
        env: dict[str, str] | None = None,
        workers: int = 1,
        db_url: str | None = None,
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # a second gateway given the first's database plays another host of one gateway
        self.db_url = db_url or f"sqlite:///{tmp / 'live.db'}"
        self.env = {
            **os.environ,
            "PORT": str(self.port),
            "OLLAMA_GATE_HOST": "127.0.0.1",
            "WEB_CONCURRENCY": str(workers),
            "OLLAMA_GATE_BACKENDS": backend,
            "OLLAMA_GATE_SECRET_KEY": "live-test-secret",
            "OLLAMA_GATE_KEY_CACHE_SECONDS": "0",
            "DATABASE_URL": self.db_url,
            # health checks at start only, unless a test asks for more: a live
            # gateway's later checks of a shared fake would take the error another
            # test hands that fake's next request (``next_status``)
            "OLLAMA_GATE_HEALTH_INTERVAL": "3600",
            **(env or {}),
        }
        self.log_path = tmp / "gunicorn.log"
        self.proc: subprocess.Popen | None = None
        self.app = create_app(
            {"SQLALCHEMY_DATABASE_URI": self.db_url, "SECRET_KEY": "live-test-secret"}
        )

    def start(self) -> LiveGateway:
        """Create the database, start gunicorn, wait until it answers."""
        self.cli("init")
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"gunicorn exited: {self.log_path.read_text()[-2000:]}"
                )
            try:
                requests.get(self.url + "/api/version", timeout=1)
                return self
            except (
                requests.ConnectionError,
                requests.Timeout,
            ):  # workers still booting
                time.sleep(0.1)
        raise RuntimeError("gunicorn did not start in 30 s")

    def stop(self) -> None:
        """Stop gunicorn and its workers."""
        if self.proc and self.proc.poll() is None:
            # quick shutdown, streams may be open (SIGINT, Ctrl-C, now drains)
            os.killpg(self.proc.pid, signal.SIGQUIT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        with self.app.app_context():
            db.engine.dispose()

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        """Run ``flask --app ollama_gate ARGS`` against this gateway's database."""
        return subprocess.run(
            [sys.executable, "-m", "flask", "--app", "ollama_gate", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )

    def key(self, user: str = "alice", **kwargs) -> str:
        """A new key for ``user`` in this gateway's database."""
        return add_key(self.app, user, **kwargs)


def gateway_fixture(name: str, env: dict[str, str] | None = None, scope="module"):
    """A fixture ``name``: a live gateway (1 gevent worker) in front of the session's
    fake Ollama with ``env`` added, started once per ``scope`` and stopped after."""

    @pytest.fixture(scope=scope, name=name)
    def live(tmp_path_factory, fake_server) -> Iterator[LiveGateway]:
        gw = LiveGateway(tmp_path_factory.mktemp(name), fake_server.url, env=env)
        yield gw.start()
        gw.stop()

    return live


def wait_for(check, seconds: float = 20.0, step: float = 0.05):
    """Poll ``check`` until it is truthy (a live gateway records in the background);
    its last value."""
    deadline = time.monotonic() + seconds
    value = check()
    while not value and time.monotonic() < deadline:
        time.sleep(step)
        value = check()
    return value


def ask_with_system(
    gw, key, system, question, model="llama3.2", out=None, timeout=60
) -> requests.Response:
    """A whole /api/chat call with a system prompt and a question, answered 200
    (prefix routing's tests: the system prompt is what they route by)."""
    resp = requests.post(
        gw.url + "/api/chat",
        json={
            "model": model,
            "stream": False,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": question},
            ],
        },
        headers={"Authorization": f"Bearer {key}"},
        timeout=timeout,
    )
    assert resp.status_code == 200, resp.text
    if out is not None:
        out.append(resp)
    return resp
