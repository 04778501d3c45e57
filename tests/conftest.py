"""Shared fixtures: the app and its test client, a fake Ollama server, a live gunicorn
gateway."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command

from ollama_gate import create_app
from ollama_gate.extensions import db, migrate
from tests.fakes.ollama import FakeOllama
from tests.helpers.keys import add_key
from tests.helpers.live import gateway_fixture
from tests.helpers.oidc import provider_missing
from tests.helpers.services import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ENABLE,
    POSTGRES_URL,
    REDIS_URL,
    REQUIRE_SERVICES,
    browser_missing,
    reachable,
)


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


def pytest_collection_modifyitems(config, items) -> None:
    """Skip tests whose service is missing, saying how to enable them, unless CI
    demands every service (OLLAMA_GATE_TEST_REQUIRE_SERVICES=1: they run and fail)."""
    if REQUIRE_SERVICES:
        return
    missing = {
        "needs_postgres": None if reachable(POSTGRES_URL) else "no PostgreSQL",
        "needs_redis": None if reachable(REDIS_URL) else "no Redis",
        "browser": browser_missing(),
        "needs_oidc_provider": provider_missing(),
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

    if not REQUIRE_SERVICES and not reachable(POSTGRES_URL):
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


@pytest.fixture()
def key(app) -> str:
    """A fresh active key for user ``alice``."""
    return add_key(app)


# the live gateway most tests share
gateway = gateway_fixture("gateway", scope="session")
