"""A newcomer's `make test` passes on a machine without Chromium, PostgreSQL or
Redis: those tests skip and say how to enable them; CI (REQUIRE_SERVICES) runs them."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.helpers.paths import ROOT

ABSENT = {
    "OLLAMA_GATE_TEST_CHROMIUM": "/nonexistent/chromium",
    "OLLAMA_GATE_TEST_POSTGRES_URL": "postgresql+psycopg://postgres@127.0.0.1:1/test",
    "OLLAMA_GATE_TEST_REDIS_URL": "redis://127.0.0.1:1/0",
}
SAMPLE = [
    "tests/history/test_browser.py",
    "tests/core/test_schema.py",  # SQLite and PostgreSQL runs of one fixture
    "tests/cache/test_store.py",  # one fixture over SQLite, PostgreSQL and Redis
    "tests/system/test_shared_faults.py::test_redis_gone_is_a_503_then_recovers_without_restart",
    "tests/system/test_shared_faults.py::test_database_gone_is_a_503_then_recovers_without_restart",
]


def run_pytest(**env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v for k, v in os.environ.items() if k != "OLLAMA_GATE_TEST_REQUIRE_SERVICES"
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            *SAMPLE,
        ],
        cwd=ROOT,
        env={**clean, **ABSENT, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_missing_services_skip_with_how_to_enable_them():
    done = run_pytest()
    assert done.returncode == 0, done.stdout[-2000:]
    assert "failed" not in done.stdout and "error" not in done.stdout.lower()
    assert "apt-get install chromium" in done.stdout
    assert "start PostgreSQL on 127.0.0.1:5432" in done.stdout
    assert "start Redis on 127.0.0.1:6379" in done.stdout


def test_ci_requires_them_and_fails_without():
    done = run_pytest(OLLAMA_GATE_TEST_REQUIRE_SERVICES="1")
    assert done.returncode != 0 and "skipped" not in done.stdout
