"""HTTP Basic with the key as password (``http://user:KEY@host``), and a clear 401 for
an ``Authorization`` scheme the gateway does not take."""

from __future__ import annotations

import base64
import json

import httpx
import ollama
import pytest


def basic(user: str, password: str) -> dict[str, str]:
    """An ``Authorization: Basic`` header for ``user:password``."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.mark.parametrize(
    "header",
    [
        lambda k: basic("user", k),  # what llm-ollama and URL userinfo send
        lambda k: basic("", k),
        lambda k: basic(k, ""),  # the key as user name, no password
        lambda k: {"Authorization": "basic " + basic("u", k)["Authorization"][6:]},
    ],
)
def test_basic_auth_with_the_key_is_accepted(client, fake, key, header):
    resp = client.get("/api/tags", headers=header(key))
    assert resp.status_code == 200
    assert resp.get_json()["models"]


def test_basic_auth_key_never_reaches_upstream(client, fake, key):
    resp = client.post(
        "/api/show", json={"model": "llama3.2"}, headers=basic("user", key)
    )
    assert resp.status_code == 200
    sent = fake.calls()[-1].headers
    assert "authorization" not in sent and key not in json.dumps(sent)


@pytest.mark.parametrize(
    "headers, message",
    [
        (basic("user", "og_wrong"), "invalid API key"),
        (basic("", ""), "missing API key"),
        ({"Authorization": "Basic !!!not-base64"}, "malformed Basic authorization"),
    ],
)
def test_basic_auth_without_a_good_key_is_401(client, fake, headers, message):
    resp = client.post("/api/generate", json={"model": "llama3.2"}, headers=headers)
    assert resp.status_code == 401
    assert message in resp.get_json()["error"]
    assert fake.calls() == []


@pytest.mark.parametrize(
    "value", ["Digest username=alice, response=abc", "Token og_x", "og_bare-key"]
)
def test_another_scheme_is_401_unsupported_scheme(client, fake, key, value):
    resp = client.post(
        "/api/generate", json={"model": "llama3.2"}, headers={"Authorization": value}
    )
    assert resp.status_code == 401
    error = resp.get_json()["error"]
    assert "unsupported authorization scheme" in error
    assert "missing API key" not in error
    assert fake.calls() == []


def test_another_scheme_with_the_key_elsewhere_is_accepted(client, fake, key):
    headers = {"Authorization": "Digest x", "X-API-Key": key}
    assert client.get("/api/tags", headers=headers).status_code == 200


def test_unsupported_scheme_in_openai_shape_on_v1(client, fake):
    resp = client.post(
        "/v1/chat/completions",
        json={"model": "llama3.2", "messages": []},
        headers={"Authorization": "Token abc"},
    )
    assert resp.status_code == 401
    err = resp.get_json()["error"]
    assert err["type"] == "authentication_error"
    assert "unsupported authorization scheme" in err["message"]


def test_url_userinfo_through_the_live_gateway(gateway):
    key = gateway.key("basic-user")
    host = gateway.url.replace("http://", f"http://user:{key}@")
    # httpx (the ollama client's transport) sends a URL's userinfo as Basic
    resp = httpx.get(host + "/api/tags", timeout=10)
    assert resp.status_code == 200 and resp.json()["models"]
    # ollama-python 0.6.3 drops the userinfo of ``host``; its httpx ``auth`` sends it
    client = ollama.Client(host=gateway.url, auth=("user", key))
    answer = client.chat(model="llama3.2", messages=[{"role": "user", "content": "hi"}])
    assert answer.message.content
    bad = ollama.Client(host=gateway.url, auth=("user", "og_" + "x" * 43))
    with pytest.raises(ollama.ResponseError) as caught:
        bad.list()
    assert caught.value.status_code == 401
