"""``/healthz`` and ``/readyz`` (ollama_gate/ops/): no key, readiness following the
database and the only backend as it stops and starts again."""

from __future__ import annotations

import time

import pytest

from ollama_gate import create_app
from ollama_gate.extensions import db
from ollama_gate.ops.ready import backends_ready
from tests.fakes.ollama import FakeOllama
from tests.helpers.services import free_port


def make_app(tmp_path, backend: str, **overrides):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'gate.db'}",
            "BACKENDS": [backend],
            "READY_CACHE_SECONDS": 0.0,
            "HEALTH_INTERVAL": 0.01,  # each look checks the backend again
            **overrides,
        }
    )
    with app.app_context():
        db.create_all()
    return app


@pytest.fixture()
def own_backend():
    """A fake Ollama of this test's own, on a port it can start again on."""
    fake = FakeOllama(port=free_port()).start()
    yield fake
    fake.stop()


def test_healthz_needs_no_key_and_no_backend(tmp_path):
    app = make_app(tmp_path, f"http://127.0.0.1:{free_port()}")  # nothing listens
    reply = app.test_client().get("/healthz")
    assert reply.status_code == 200 and reply.get_json() == {"status": "ok"}


def test_readiness_follows_the_only_backend_down_and_up(tmp_path, own_backend):
    app = make_app(tmp_path, own_backend.url)
    client = app.test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.get_json()
    assert ready.get_json() == {"status": "ok", "database": "ok", "backends": "ok"}

    port = own_backend.port
    own_backend.stop()
    down = client.get("/readyz")
    assert down.status_code == 503
    assert down.get_json()["backends"] == "none healthy"
    assert down.get_json()["database"] == "ok"
    assert client.get("/healthz").status_code == 200  # up, just not ready

    again = FakeOllama(port=port).start()
    try:
        deadline = time.monotonic() + 5  # the next check, after its short backoff
        back = client.get("/readyz")
        while back.status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.02)
            back = client.get("/readyz")
        assert back.status_code == 200, back.get_json()
        assert any(r.path == "/api/tags" for r in again.requests)  # it checked
    finally:
        again.stop()


def test_a_backend_that_answers_errors_is_not_ready(tmp_path, own_backend):
    app = make_app(tmp_path, own_backend.url)
    own_backend.next_status = (500, {"error": "broken"})
    assert app.test_client().get("/readyz").status_code == 503


def test_the_check_is_cached(tmp_path, own_backend):
    """Within READY_CACHE_SECONDS the last answer is reused: no probe, no query."""
    app = make_app(tmp_path, own_backend.url, READY_CACHE_SECONDS=3600.0)
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    asked = len(own_backend.requests)
    own_backend.stop()
    assert client.get("/readyz").status_code == 200  # the cached answer
    assert len(own_backend.requests) == asked


def test_an_unreachable_database_is_not_ready(tmp_path, own_backend):
    url = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none"
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "SQLALCHEMY_DATABASE_URI": url,
            "BACKENDS": [own_backend.url],
            "READY_CACHE_SECONDS": 0.0,
        }
    )
    reply = app.test_client().get("/readyz")
    assert reply.status_code == 503
    assert reply.get_json()["database"] == "unreachable"
    assert reply.get_json()["backends"] == "ok"


def test_ready_while_any_backend_is_up_and_not_when_all_are_down(tmp_path, pool):
    """Not the Go router's bug: with every backend down, the gateway is not ready."""
    gpu1, gpu2, _ = pool
    app = make_app(
        tmp_path,
        "",
        BACKENDS=[f"gpu1={gpu1.url}", f"gpu2={gpu2.url}"],
        HEALTH_INTERVAL=0.01,
    )
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    gpu1.stop()
    time.sleep(0.05)
    assert client.get("/readyz").status_code == 200  # gpu2 still answers
    gpu2.stop()
    time.sleep(0.05)
    reply = client.get("/readyz")
    assert reply.status_code == 503 and reply.get_json()["backends"] != "ok"
    assert backends_ready(app) is False
