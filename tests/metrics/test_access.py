"""Who may read ``/metrics`` (a bearer token or an allowed address, loopback by
default), and label values a client cannot multiply."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ollama_gate import create_app
from ollama_gate.config import load_settings
from ollama_gate.extensions import db

FAR = {"REMOTE_ADDR": "203.0.113.9"}


def make_app(tmp_path, fake_server, **overrides):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'gate.db'}",
            "BACKENDS": [fake_server.url],
            "KEY_CACHE_SECONDS": 0.0,
            **overrides,
        }
    )
    with app.app_context():
        db.create_all()
    return app


def settings(**env: str) -> dict:
    return {f"OLLAMA_GATE_{k}": v for k, v in env.items()}


def test_open_from_the_machine_itself_only_by_default(app):
    client = app.test_client()
    local = client.get("/metrics")
    assert local.status_code == 200
    assert local.headers["Content-Type"].startswith("text/plain")
    assert list(text_string_to_metric_families(local.get_data(as_text=True)))
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == (
        200
    )
    assert client.get("/metrics", environ_base=FAR).status_code == 403


def test_a_proxied_request_is_not_local(app):
    """nginx on the same host connects from loopback: its clients are not local."""
    reply = app.test_client().get(
        "/metrics", headers={"X-Forwarded-For": "203.0.113.9"}
    )
    assert reply.status_code == 403


def test_the_token_opens_it_from_anywhere(tmp_path, fake_server):
    app = make_app(tmp_path, fake_server, METRICS_TOKEN="s3cret-scrape")
    client = app.test_client()
    good = {"Authorization": "Bearer s3cret-scrape"}
    assert client.get("/metrics", headers=good, environ_base=FAR).status_code == 200
    wrong = client.get(
        "/metrics", headers={"Authorization": "Bearer nope"}, environ_base=FAR
    )
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/metrics", environ_base=FAR).status_code == 401
    assert client.get("/metrics").status_code == 200  # loopback still allowed


def test_an_allowlist_of_networks_and_token_only(tmp_path, fake_server):
    app = make_app(
        tmp_path, fake_server, **load_settings(settings(METRICS_ALLOW="10.0.0.0/8"))
    )
    client = app.test_client()
    inside = client.get("/metrics", environ_base={"REMOTE_ADDR": "10.20.30.40"})
    assert inside.status_code == 200
    assert client.get("/metrics").status_code == 403  # loopback no longer listed

    closed = make_app(
        tmp_path, fake_server, METRICS_ALLOW=[], METRICS_TOKEN="t0ken-only"
    )
    assert closed.test_client().get("/metrics").status_code == 401


def test_a_bad_allowlist_entry_names_the_variable():
    with pytest.raises(RuntimeError, match="OLLAMA_GATE_METRICS_ALLOW"):
        load_settings(settings(METRICS_ALLOW="10.0.0.0/8,not-an-address"))


def calls_with(text: str, **labels: str) -> float:
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "ollama_gate_calls_total"
        and all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_labels_stay_bounded(app, key, fake):
    """An unknown path is ``other``; a model nobody has is not a label."""
    client = app.test_client()
    auth = {"Authorization": f"Bearer {key}"}
    before = client.get("/metrics").get_data(as_text=True)
    made_up = "no-such-model-\u2603-" + "x" * 200
    reply = client.post(
        "/api/chat",
        json={"model": made_up, "messages": [{"role": "user", "content": "Hi"}]},
        headers=auth,
    )
    assert reply.status_code == 404
    assert client.get("/api/made/up/path", headers=auth).status_code == 404
    app.extensions["ollama_gate"].recorder.flush()
    after = client.get("/metrics").get_data(as_text=True)
    assert made_up[:20] not in after
    assert (
        calls_with(after, endpoint="other") == calls_with(before, endpoint="other") + 1
    )
    assert calls_with(after, endpoint="/api/chat", status="404", model="") == (
        calls_with(before, endpoint="/api/chat", status="404", model="") + 1
    )
