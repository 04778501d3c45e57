"""Key holders help themselves: /gate/api/usage against the quotas, and the page where
a pasted key shows its own usage and calls (no admin login, no key in a URL)."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from ollama_gate import create_app
from ollama_gate.extensions import db
from tests.helpers.keys import add_key

CHAT = {"model": "llama3.2", "messages": [{"role": "user", "content": "Hi"}]}


def usage(client, key: str):
    return client.get("/gate/api/usage", headers={"Authorization": f"Bearer {key}"})


def test_usage_endpoint_against_the_quotas(app, client, fake):
    key = add_key(
        app, "alice", name="bot", calls_per_day=3, tokens_per_month=1000, scopes=""
    )
    headers = {"Authorization": f"Bearer {key}"}
    for _ in range(2):
        body = {**CHAT, "stream": False}
        assert client.post("/api/chat", json=body, headers=headers).status_code == 200
    app.extensions["ollama_gate"].recorder.flush()
    resp = usage(client, key)
    assert resp.status_code == 200
    data = resp.get_json()
    assert data["key"] == {
        "prefix": key[:11],
        "name": "bot",
        "user": "alice",
        "state": "active",
        "expires_at": None,
        "revoke_at": None,
    }
    assert data["limits"]["rate_limit_is_default"] is True
    assert data["limits"]["models"] is None
    day, month = data["usage"]["day"], data["usage"]["month"]
    assert (day["calls"], day["calls_quota"], day["calls_left"]) == (2, 3, 1)
    assert day["tokens_quota"] is None and day["tokens_left"] is None
    assert month["tokens_quota"] == 1000 and month["tokens"] > 0
    assert month["tokens_left"] == 1000 - month["tokens"]
    assert day["resets_at"].endswith("T00:00:00Z")
    assert client.post("/api/chat", json={**CHAT, "stream": False}, headers=headers)
    over = client.post("/api/chat", json={**CHAT, "stream": False}, headers=headers)
    assert over.status_code == 429
    app.extensions["ollama_gate"].recorder.flush()
    assert usage(client, key).get_json()["usage"]["day"]["calls_left"] == 0


@pytest.mark.parametrize(("header", "status"), [(None, 401), ("Bearer og_nope", 401)])
def test_usage_endpoint_refuses_without_a_good_key(client, header, status):
    headers = {"Authorization": header} if header else {}
    resp = client.get("/gate/api/usage", headers=headers)
    assert resp.status_code == status and "error" in resp.get_json()


def test_usage_endpoint_answers_alike_for_every_unusable_key(app, client):
    """Unknown, disabled, revoked, expired (and rotated past grace): one status and
    one body, so a guesser cannot tell a key that exists from one that does not."""
    past = datetime(2020, 1, 1)
    keys = [
        "og_" + "x" * 43,
        add_key(app, "bob", disabled=True),
        add_key(app, "bob", revoked_at=past),
        add_key(app, "bob", expires_at=past),
        add_key(app, "bob", revoke_at=past),
    ]
    answers = [usage(client, key) for key in keys]
    assert {(r.status_code, r.get_data()) for r in answers} == {
        (401, answers[0].get_data())
    }
    assert answers[0].get_json() == {"error": "invalid API key"}


def test_usage_endpoint_limits_failed_look_ups_per_address(tmp_path, fake):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "t",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'u.db'}",
            "BACKENDS": [fake.url],
            "SELF_SERVICE_RATE_LIMIT": "3/minute",
        }
    )
    with app.app_context():
        db.create_all()
    good = add_key(app, "erin")
    client = app.test_client()
    assert usage(client, good).status_code == 200  # a good key is given back
    codes = [usage(client, f"og_guess{n}").status_code for n in range(4)]
    assert codes == [401, 401, 401, 429]
    locked = usage(client, good)  # the address is locked out, whatever the key
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) >= 1
    assert "error" in locked.get_json()
    other = client.get(
        "/gate/api/usage",
        headers={"Authorization": f"Bearer {good}"},
        environ_base={"REMOTE_ADDR": "192.0.2.8"},
    )
    assert other.status_code == 200  # another address is not


def csrf(client) -> str:
    html = client.get("/gate/usage").text
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)[1]


def test_page_shows_own_usage_and_calls_never_the_key(app, client, fake):
    key = add_key(app, "carol", calls_per_day=10)
    other = add_key(app, "dave")
    headers = {"Authorization": f"Bearer {key}"}
    body = {**CHAT, "stream": False, "messages": [{"role": "user", "content": "<b>x"}]}
    client.post("/api/chat", json=body, headers=headers)
    client.post(
        "/api/chat",
        json={**CHAT, "stream": False},
        headers={"Authorization": f"Bearer {other}"},
    )
    app.extensions["ollama_gate"].recorder.flush()
    page = client.get("/gate/usage")
    assert page.status_code == 200 and 'type="password"' in page.text
    assert page.headers["Cache-Control"] == "no-store"
    resp = client.post("/gate/usage", data={"csrf_token": csrf(client), "key": key})
    html = resp.text
    assert resp.status_code == 200 and key not in html and key[:11] in html
    assert "1 of 10" in html and "9 left" in html
    recent = html[html.index('id="usage-recent"') :]
    assert recent.count("<tr>") == 2  # the head and carol's one call
    assert "&lt;b&gt;x" in recent and "<b>x" not in recent
    bad = client.post("/gate/usage", data={"csrf_token": csrf(client), "key": "og_no"})
    assert bad.status_code == 401 and "invalid API key" in bad.text
    no_csrf = client.post("/gate/usage", data={"key": key})
    assert no_csrf.status_code == 400


def test_page_is_rate_limited_per_address(tmp_path, fake):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "t",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'r.db'}",
            "BACKENDS": [fake.url],
            "SELF_SERVICE_RATE_LIMIT": "2/minute",
        }
    )
    with app.app_context():
        db.create_all()
    client = app.test_client()
    codes = [
        client.post(
            "/gate/usage", data={"csrf_token": csrf(client), "key": "og_guess"}
        ).status_code
        for _ in range(3)
    ]
    assert codes == [401, 401, 429]
    assert client.get("/gate/usage").status_code == 200  # reading the form is free
