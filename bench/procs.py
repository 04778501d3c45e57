"""The processes under test: the fake upstream and real gunicorn gateways, costs.

CPU time and memory come from ``/proc`` (utime + stime of the gunicorn master and its
workers; ``VmRSS``/``VmHWM``), which is less noisy than wall time on a shared machine.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")
# Keys the load client takes in turn: the default rate limit (600 calls a minute a key)
# stays on, so the load is spread over enough keys to stay under it.
KEYS = 64


def free_port() -> int:
    """A loopback TCP port that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(
    port: int, proc: subprocess.Popen, what: str, timeout: float = 30
) -> None:
    """Wait until ``GET /api/version`` answers on ``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/version")
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not answer within {timeout} s")


def children(pid: int) -> list[int]:
    """Direct child processes of ``pid``."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU seconds used so far by ``pids``."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / TICK


def memory_mb(pids: list[int], field: str = "VmRSS") -> float:
    """Sum of a ``/proc/<pid>/status`` memory field (``VmRSS``, ``VmHWM``) in MB."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith(field + ":"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


class Proc:
    """A started server process and the port it listens on."""

    name = "process"

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def pids(self) -> list[int]:
        """This server's processes (the master and its workers)."""
        return [self.proc.pid, *children(self.proc.pid)]

    def stop(self) -> None:
        """Stop the server and its workers."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


class Upstream(Proc):
    """The fast fake Ollama (``bench/upstream.py``) in its own process."""

    name = "upstream"

    def start(self) -> Upstream:
        """Start it and wait until it answers."""
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "bench" / "upstream.py"),
                "--port",
                str(self.port),
            ],
            start_new_session=True,
        )
        wait_http(self.port, self.proc, "fake upstream")
        return self


class Gateway(Proc):
    """The real gateway: ``gunicorn -c gunicorn.conf.py wsgi:app``, default settings."""

    def __init__(
        self,
        name: str,
        tmp: Path,
        backend: str,
        env: dict[str, str],
        root: Path = ROOT,
    ) -> None:
        super().__init__()
        self.name = name
        self.tmp = tmp
        self.root = root  # the checkout it runs (run.py --second-root: another one)
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("OLLAMA_GATE_")
            and k not in ("DATABASE_URL", "WEB_CONCURRENCY")
        }
        self.env.update(
            {
                "PORT": str(self.port),
                "OLLAMA_GATE_HOST": "127.0.0.1",
                "OLLAMA_GATE_BACKENDS": backend,
                "OLLAMA_GATE_SECRET_KEY": "bench-secret",
                "DATABASE_URL": f"sqlite:///{tmp / 'gate.db'}",
                **env,
            }
        )
        self.keys: list[str] = []

    def flask(self, *args: str) -> str:
        """Run ``flask --app ollama_gate ARGS``; return its output."""
        out = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "ollama_gate", *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if out.returncode:
            raise RuntimeError(f"flask {' '.join(args)} failed: {out.stderr[-2000:]}")
        return out.stdout

    def cache_hits(self) -> int:
        """The cache hits the gateway has counted (``flask cache stats``)."""
        stats = dict(
            line.split("\t") for line in self.flask("cache", "stats").splitlines()
        )
        return int(stats["hits"])

    def make_keys(self, n: int) -> list[str]:
        """``n`` keys of user ``bench`` in the gateway's database (one process)."""
        code = (
            "import os, sys\n"
            "from ollama_gate import create_app\n"
            "from ollama_gate.extensions import db\n"
            "from ollama_gate.keys import create_key\n"
            "from ollama_gate.models import User\n"
            "app = create_app()\n"
            "with app.app_context():\n"
            "    user = User(name='bench')\n"
            "    db.session.add(user)\n"
            f"    keys = [create_key(user, name=f'b{{i}}')[1] for i in range({n})]\n"
            "    db.session.commit()\n"
            "print('\\n'.join(keys))\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if out.returncode:
            raise RuntimeError(f"could not make keys: {out.stderr[-2000:]}")
        return out.stdout.split()

    def start(self) -> Gateway:
        """Create the database and a key, start gunicorn, wait until it answers."""
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.flask("init")
        self.keys = self.make_keys(KEYS)
        log = open(self.tmp / "gunicorn.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=self.root,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_http(self.port, self.proc, f"gateway {self.name}")
        return self


# gunicorn's worker class for the floors: gevent's pywsgi, as the gateway's worker is;
# BENCH_FLOOR_WORKER=gevent measures gunicorn's own HTTP parser on gevent instead
FLOOR_WORKER = os.environ.get("BENCH_FLOOR_WORKER", "gevent_pywsgi")
FLOORS = ("floor_wsgi", "floor_flask")  # the targets of run.py --floor


class Floor(Proc):
    """One of ``bench/floor.py``'s bare relays under gunicorn, one gevent worker."""

    def __init__(self, name: str, tmp: Path, upstream_port: int) -> None:
        super().__init__()
        self.name = name
        self.tmp = tmp
        self.upstream_port = upstream_port

    def start(self) -> Floor:
        """Start gunicorn on the floor app named by ``self.name``; wait for it."""
        kind = self.name.removeprefix("floor_")  # wsgi or flask
        env = {
            **os.environ,
            "FLOOR_APP": kind,
            "FLOOR_UPSTREAM": f"127.0.0.1:{self.upstream_port}",
        }
        self.tmp.mkdir(parents=True, exist_ok=True)
        log = open(self.tmp / "gunicorn.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--chdir", str(ROOT / "bench"),
             "-k", FLOOR_WORKER, "-w", "1", "--worker-connections", "4000",
             "-b", f"127.0.0.1:{self.port}", f"floor:app_{kind}"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        wait_http(self.port, self.proc, self.name)
        return self
