"""Key checks on the API: header forms, refusals in each API family's shape, header
hygiene."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from ollama_gate.extensions import db
from ollama_gate.models import ApiKey, utcnow
from tests.helpers.keys import add_key


def set_key(app, plain: str, **values) -> None:
    """Change columns of the key whose text is ``plain``."""
    from ollama_gate.keys import hash_key

    with app.app_context():
        row = db.session.execute(
            db.select(ApiKey).where(ApiKey.key_hash == hash_key(plain))
        ).scalar_one()
        for name, value in values.items():
            setattr(row, name, value)
        db.session.commit()


@pytest.mark.parametrize(
    "header",
    [
        lambda k: {"Authorization": f"Bearer {k}"},
        lambda k: {"Authorization": f"bearer {k}"},
        lambda k: {"X-API-Key": k},
        lambda k: {"apikey": k},
        lambda k: {"APIKEY": k},
    ],
)
def test_every_header_form_is_accepted(client, fake, key, header):
    resp = client.get("/api/tags", headers=header(key))
    assert resp.status_code == 200
    assert [m["name"] for m in resp.get_json()["models"]][:1] == ["llama3.2:latest"]


@pytest.mark.parametrize(
    "headers, status, message",
    [
        ({}, 401, "missing API key"),
        ({"Authorization": "Bearer og_not-a-real-key"}, 401, "invalid API key"),
        ({"X-API-Key": "wrong"}, 401, "invalid API key"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, 401, "invalid API key"),
        ({"Authorization": "Bearer "}, 401, "missing API key"),
    ],
)
def test_missing_or_unknown_key_is_401(client, fake, headers, status, message):
    resp = client.post("/api/generate", json={"model": "llama3.2"}, headers=headers)
    assert resp.status_code == status
    assert resp.mimetype == "application/json"
    assert message in resp.get_json()["error"]
    assert fake.calls() == []  # nothing reached the upstream


@pytest.mark.parametrize(
    "values, word",
    [
        ({"disabled": True}, "disabled"),
        ({"revoked_at": utcnow()}, "revoked"),
        ({"expires_at": utcnow() - timedelta(seconds=1)}, "expired"),
    ],
)
def test_unusable_key_is_403(app, client, fake, key, values, word):
    set_key(app, key, **values)
    resp = client.get("/api/tags", headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 403
    assert word in resp.get_json()["error"]
    v1 = client.get("/v1/models", headers={"Authorization": f"Bearer {key}"})
    assert v1.status_code == 403
    err = v1.get_json()["error"]
    assert word in err["message"] and err["type"] == "permission_error"
    assert fake.calls() == []


def test_future_expiry_and_reenabled_key_work(app, client, fake):
    key = add_key(app, expires_at=utcnow() + timedelta(days=1))
    set_key(app, key, disabled=True)
    assert client.get("/api/ps", headers={"X-API-Key": key}).status_code == 403
    set_key(app, key, disabled=False)
    assert client.get("/api/ps", headers={"X-API-Key": key}).status_code == 200


def test_openai_error_shape_on_v1(client, fake):
    resp = client.post("/v1/chat/completions", json={"model": "x", "messages": []})
    assert resp.status_code == 401
    assert resp.get_json() == {
        "error": {
            "message": resp.get_json()["error"]["message"],
            "type": "authentication_error",
            "param": None,
            "code": None,
        }
    }


def sent_to(fake, target):
    """The one request the gateway sent upstream to ``target`` (path and query): a
    live gateway of another test may health-check the shared fake meanwhile."""
    (rec,) = [r for r in fake.requests_to(target) if r.path == target]
    return rec


def test_root_and_heartbeat_need_no_key(client, fake):
    assert client.head("/").status_code == 200
    resp = client.get("/")
    assert resp.status_code == 200 and resp.data == b"Ollama is running"


@pytest.mark.parametrize("header_name", ["Authorization", "X-API-Key", "apikey"])
def test_key_never_reaches_upstream(client, fake, key, header_name):
    value = f"Bearer {key}" if header_name == "Authorization" else key
    client.post(
        "/api/show",
        json={"model": "llama3.2"},
        headers={
            header_name: value,
            "Origin": "http://localhost:3000",
            "Host": "gateway.example.com",
        },
    )
    sent = fake.calls()[-1].headers  # not a live gateway's health check
    assert key not in json.dumps(sent)
    for name in ("authorization", "x-api-key", "apikey", "origin"):
        assert name not in sent
    assert sent["host"] == fake.url.split("//", 1)[1]  # Host rewritten to the upstream


def test_other_authorization_passes_when_key_came_in_x_api_key(client, fake, key):
    client.get(
        "/api/tags?mine=1", headers={"X-API-Key": key, "Authorization": "pub:sig"}
    )
    assert sent_to(fake, "/api/tags?mine=1").headers["authorization"] == "pub:sig"


def test_hop_by_hop_headers_are_dropped(client, fake, key):
    client.get(
        "/api/tags?ts=17",
        headers={
            "X-API-Key": key,
            "Connection": "X-Secret",
            "X-Secret": "1",
            "X-Custom": "kept",
            "Proxy-Authorization": "x",
        },
    )
    rec = sent_to(fake, "/api/tags?ts=17")  # query string kept
    assert rec.headers["x-custom"] == "kept"
    assert "x-secret" not in rec.headers and "proxy-authorization" not in rec.headers


def test_cors_preflight_and_allowed_origin(client, fake, key):
    pre = client.options(
        "/api/chat",
        headers={
            "Origin": "http://localhost:5173",
            "Access-Control-Request-Method": "POST",
        },
    )
    assert pre.status_code == 204
    assert "X-API-Key" in pre.headers["Access-Control-Allow-Headers"]
    resp = client.get(
        "/api/tags?mine=1",
        headers={"Origin": "http://localhost:5173", "X-API-Key": key},
    )
    assert resp.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert sent_to(fake, "/api/tags?mine=1").headers.get("origin") is None


@pytest.mark.parametrize(
    ("path", "shape"), [("/api/chat", str), ("/v1/chat/completions", dict)]
)
def test_cors_refuses_unknown_origin(client, fake, path, shape):
    pre = client.options(
        path,
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "POST",
        },
    )
    assert pre.status_code == 403
    assert "Access-Control-Allow-Origin" not in pre.headers
    assert isinstance(pre.get_json()["error"], shape)  # the family's own error shape
    assert not fake.requests
