"""Shared fixtures: the app and its test client, a fake Ollama server, a live gunicorn
gateway."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

sys.path.insert(0, os.path.dirname(__file__))

from alembic import command  # noqa: E402
from fake_ollama import FakeOllama  # noqa: E402

from ollama_gate import create_app  # noqa: E402
from ollama_gate.extensions import db, migrate  # noqa: E402
from ollama_gate.keys import create_key  # noqa: E402
from ollama_gate.models import User  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"


POSTGRES_URL = os.environ.get(
    "OLLAMA_GATE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("OLLAMA_GATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_SERVICES = os.environ.get("OLLAMA_GATE_TEST_REQUIRE_SERVICES") == "1"


CHROMIUM = os.environ.get("OLLAMA_GATE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # as root
    "--disable-gpu",
    "--disable-background-networking",  # off the closed network
    "--disable-component-update",
    "--disable-sync",
]
ENABLE = {
    "needs_postgres": "start PostgreSQL on 127.0.0.1:5432 with a database `test` and "
    "trust auth (or set OLLAMA_GATE_TEST_POSTGRES_URL)",
    "needs_redis": "start Redis on 127.0.0.1:6379 (or set OLLAMA_GATE_TEST_REDIS_URL)",
    "browser": "install Chromium (`apt-get install chromium`, or set "
    "OLLAMA_GATE_TEST_CHROMIUM to its path)",
}


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not os.path.exists(CHROMIUM):
        return f"no Chromium at {CHROMIUM}"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (make test installs it)"
    return None


@pytest.fixture()
def chromium():
    """The machine's Chromium, headless, driven by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


def _reachable(url: str) -> bool:
    """True when something listens at the host and port of ``url``."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        address = (parts.hostname or "127.0.0.1", parts.port or 0)
        socket.create_connection(address, timeout=1).close()
        return True
    except OSError:
        return False


def pytest_collection_modifyitems(config, items) -> None:
    """Skip tests whose service is missing, saying how to enable them, unless CI
    demands every service (OLLAMA_GATE_TEST_REQUIRE_SERVICES=1: they run and fail)."""
    if REQUIRE_SERVICES:
        return
    missing = {
        "needs_postgres": None if _reachable(POSTGRES_URL) else "no PostgreSQL",
        "needs_redis": None if _reachable(REDIS_URL) else "no Redis",
        "browser": browser_missing(),
    }
    for marker, why in missing.items():
        if why is None:
            continue
        skip = pytest.mark.skip(reason=f"{why}; to run these tests, {ENABLE[marker]}")
        for item in items:
            if marker in item.keywords:
                item.add_marker(skip)


@pytest.fixture()
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database on the machine's server, dropped
    afterwards."""
    import uuid

    import sqlalchemy as sa

    if not REQUIRE_SERVICES and not _reachable(POSTGRES_URL):
        # a safety net for a test that asks for it without the needs_postgres mark
        pytest.skip(f"no PostgreSQL; to run this test, {ENABLE['needs_postgres']}")
    name = f"ogtest_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def free_port() -> int:
    """A TCP port that is free right now on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeOllama]:
    """One fake Ollama server for the whole session."""
    server = FakeOllama().start()
    yield server
    server.stop()


@pytest.fixture()
def fake(fake_server: FakeOllama) -> FakeOllama:
    """The fake Ollama server, with records and controls reset for this test."""
    fake_server.reset()
    return fake_server


@pytest.fixture(scope="session")
def fake_servers() -> Iterator[list[FakeOllama]]:
    """Three more fake Ollama servers, for a fleet of backends."""
    servers = [FakeOllama().start() for _ in range(3)]
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture()
def fake_pool(fake_servers: list[FakeOllama]) -> list[FakeOllama]:
    """The three fleet fakes, each reset (and listening) for this test."""
    for server in fake_servers:
        if server._server is None:  # a test stopped it to play a dead backend
            server.start()
        server.reset()
        server.version = "0.33.0"
    return fake_servers


@pytest.fixture()
def pool(fake_pool: list[FakeOllama]) -> list[FakeOllama]:
    """gpu1: llama3.2, qwen2.5:7b, llama3:8b; gpu2: llama3.2 (loaded), nomic-embed-text,
    llama3:70b; gpu3: phi3:mini only, an older version."""
    gpu1, gpu2, gpu3 = fake_pool
    gpu1.models = [m for m in gpu1.models if not m["name"].startswith("nomic")]
    gpu1.add_model("llama3:8b")
    gpu1.loaded = []
    gpu2.models = [m for m in gpu2.models if not m["name"].startswith("qwen")]
    gpu2.add_model("llama3:70b")
    gpu2.loaded = ["llama3.2:latest"]
    gpu3.models = []
    gpu3.add_model("phi3:mini")
    gpu3.loaded = []
    gpu3.version = "0.9.6"
    return fake_pool


@pytest.fixture()
def app(tmp_path, fake_server):
    """A gateway app on a fresh SQLite database, pointed at the fake Ollama."""
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'gate.db'}",
            "BACKENDS": [fake_server.url],
            "KEY_CACHE_SECONDS": 0.0,
        }
    )
    with app.app_context():
        db.create_all()
        # the tables are the newest revision's: mark them so, or init would take them
        # for a release's and migrate them again (a column added twice)
        command.stamp(migrate.get_config(), "head")
    yield app
    app.extensions["ollama_gate"].recorder.flush()
    with app.app_context():
        db.engine.dispose()


@pytest.fixture()
def client(app):
    """Flask's test client for ``app``."""
    return app.test_client()


@pytest.fixture()
def runner(app):
    """Flask's CLI runner for ``app``."""
    return app.test_cli_runner()


def add_key(app, user: str = "alice", **kwargs) -> str:
    """Create ``user`` if needed and a key for them; return the plain key."""
    with app.app_context():
        owner = db.session.execute(
            db.select(User).where(User.name == user)
        ).scalar_one_or_none()
        if owner is None:
            owner = User(name=user)
            db.session.add(owner)
        own = {k: kwargs.pop(k) for k in ("name", "expires_at", "plain") if k in kwargs}
        key, plain = create_key(owner, **own)
        for column, value in kwargs.items():  # per-key settings, e.g. scopes="manage"
            setattr(key, column, value)
        db.session.commit()
        return plain


@pytest.fixture()
def key(app) -> str:
    """A fresh active key for user ``alice``."""
    return add_key(app)


class LiveGateway:
    """The real app under gunicorn with gevent workers, as a subprocess."""

    def __init__(
        self,
        tmp: Path,
        backend: str,
        env: dict[str, str] | None = None,
        workers: int = 1,
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db_url = f"sqlite:///{tmp / 'live.db'}"
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


# the live gateway most tests share
gateway = gateway_fixture("gateway", scope="session")
