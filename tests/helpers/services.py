"""The machine's services the tests use (PostgreSQL, Redis, Chromium) and free ports."""

from __future__ import annotations

import os
import socket

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
    "needs_oidc_provider": "build the test OpenID provider's own virtualenv with "
    "`make oidc-provider` (needs PyPI once)",
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


def reachable(url: str) -> bool:
    """True when something listens at the host and port of ``url``."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        address = (parts.hostname or "127.0.0.1", parts.port or 0)
        socket.create_connection(address, timeout=1).close()
        return True
    except OSError:
        return False


def free_port() -> int:
    """A TCP port that is free right now on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
