"""The cluster bench's processes: one fake Ollama with slots and two gateway hosts
(two gunicorn masters, ``WORKERS`` gevent workers each, on two loopback ports) that
share one Redis database and one PostgreSQL database, as two hosts of a company do.

The gateway's code is any checkout's (``root``): the bench, the fake and the client
stay this checkout's, so before and after are measured by the same instruments.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from procs import Gateway, Proc, wait_http

HERE = Path(__file__).resolve().parent
WORKERS = 2
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
POSTGRES_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKEND = "gpu1"


class Fake(Proc):
    """``cluster_fake.py`` in its own process."""

    name = "fake"

    def __init__(self, parallel: int, delay: float) -> None:
        super().__init__()
        self.parallel, self.delay = parallel, delay

    def start(self) -> Fake:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "cluster_fake.py"), "--port", str(self.port),
             "--parallel", str(self.parallel), "--delay", str(self.delay)],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        wait_http(self.port, self.proc, "fake ollama")
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def events(self) -> dict:
        """The calls it served since the last look (``cluster_fake``), and the most
        that ran at once."""
        import requests

        return requests.get(self.url + "/bench/events", timeout=30).json()


class Host(Gateway):
    """One gateway host of checkout ``root``: its own gunicorn master and workers."""

    def __init__(self, name: str, tmp: Path, root: Path, env: dict[str, str]):
        super().__init__(name, tmp, "", env)
        self.root = root
        self.env["WEB_CONCURRENCY"] = str(WORKERS)

    def flask(self, *args: str) -> str:
        """Run ``flask --app ollama_gate ARGS`` in the checkout; return its output."""
        out = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "ollama_gate", *args],
            cwd=self.root, env=self.env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        if out.returncode:
            raise RuntimeError(f"flask {' '.join(args)} failed: {out.stderr[-2000:]}")
        return out.stdout

    def python(self, code: str) -> str:
        """Run ``code`` with the checkout's app and database; return its output."""
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=self.root, env=self.env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        if out.returncode:
            raise RuntimeError(f"could not run: {out.stderr[-2000:]}")
        return out.stdout

    def tenants(self, weights: dict[str, int]) -> dict[str, str]:
        """One user and one key per tenant (its queue weight set); name -> key."""
        code = (
            "from ollama_gate import create_app\n"
            "from ollama_gate.extensions import db\n"
            "from ollama_gate.keys import create_key\n"
            "from ollama_gate.models import User\n"
            "app = create_app()\n"
            "with app.app_context():\n"
            f"    for name, weight in {weights!r}.items():\n"
            "        user = User(name=name)\n"
            "        db.session.add(user)\n"
            "        key, text = create_key(user, name=name)\n"
            "        key.queue_weight = weight\n"
            "        print(name, text)\n"
            "    db.session.commit()\n"
        )
        return dict(line.split() for line in self.python(code).splitlines())

    def start(self) -> Host:
        """Start gunicorn (the database is ready); wait until it answers."""
        self.tmp.mkdir(parents=True, exist_ok=True)
        log = open(self.tmp / "gunicorn.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=self.root, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        wait_http(self.port, self.proc, f"gateway {self.name}", timeout=60)
        return self


class Cluster:
    """The fake and two hosts on one Redis, under a key prefix of this run's own
    (never a flush: two runs at once must not wipe each other's queue), and a
    PostgreSQL database of their own (made here, dropped by ``stop``)."""

    def __init__(self, root: Path, tmp: Path, parallel: int, delay: float, env=None):
        self.root, self.tmp, self.parallel = root, tmp, parallel
        self.fake = Fake(parallel, delay)
        run = uuid.uuid4().hex[:8]
        self.db_name = f"bench_cluster_{run}"
        self.prefix = f"bench-cluster-{run}"
        self.env = {
            "OLLAMA_GATE_REDIS_URL": REDIS_URL,
            "OLLAMA_GATE_REDIS_PREFIX": self.prefix,
            "DATABASE_URL": POSTGRES_URL.rsplit("/", 1)[0] + "/" + self.db_name,
            "OLLAMA_GATE_BACKENDS": f"{BACKEND}={self.fake.url}",
            "OLLAMA_GATE_HEALTH_INTERVAL": "1",  # the --parallel row read within 1 s
            "OLLAMA_GATE_RATE_LIMIT": "1000000/minute",  # the queue is measured
            **(env or {}),
        }
        self.hosts: list[Host] = []
        self.keys: dict[str, str] = {}

    def _admin(self, sql: str) -> None:
        import sqlalchemy as sa

        engine = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(sql))
        engine.dispose()

    def start(self, weights: dict[str, int]) -> Cluster:
        """Start everything; one key per tenant of ``weights``."""
        self._admin(f'CREATE DATABASE "{self.db_name}"')
        self.fake.start()
        a, b = (
            Host(n, self.tmp / n, self.root, self.env) for n in ("host-a", "host-b")
        )
        a.flask("init")
        a.flask("backends", "set", BACKEND, "--parallel", str(self.parallel))
        self.keys = a.tenants(weights)
        self.hosts = [a.start(), b.start()]
        time.sleep(3)  # every worker has read the backend's row (HEALTH_INTERVAL)
        return self

    def stop(self) -> None:
        for host in self.hosts:
            host.stop()
        self.fake.stop()
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"{self.prefix}*", count=1000):
            client.delete(key)
        try:
            self._admin(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
        except Exception as exc:  # noqa: BLE001 - a leftover database is only noted
            print(f"could not drop {self.db_name}: {exc}", file=sys.stderr)
