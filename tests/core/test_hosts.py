"""A web page cannot drive the gateway: calls from a disallowed browser origin are
refused (403, as Ollama does), and a keyless call must name the gateway by one of
its own names (``ALLOWED_HOSTS``), which a DNS-rebinding page cannot."""

from __future__ import annotations

import socket

import pytest
import requests

from tests.core.test_remote import make_app
from tests.helpers.keys import add_key

GENERATE = {"model": "llama3.2", "prompt": "hi", "stream": False}
CHAT = {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    ("path", "body", "shape"),
    [("/api/generate", GENERATE, str), ("/v1/chat/completions", CHAT, dict)],
)
def test_a_cross_site_post_is_refused(app, key, fake, path, body, shape):
    """A form or fetch from another site needs no preflight: its call is refused."""
    client = app.test_client()
    before = len(fake.requests)
    for headers in ({}, {"Authorization": f"Bearer {key}"}):
        reply = client.post(
            path, json=body, headers={"Origin": "https://evil.example", **headers}
        )
        assert reply.status_code == 403
        error = reply.get_json()["error"]
        assert isinstance(error, shape) and "origin" in str(error)
        assert "Access-Control-Allow-Origin" not in reply.headers
    assert len(fake.requests) == before  # nothing reached the backend
    allowed = client.post(
        path,
        json=body,
        headers={"Origin": "http://localhost:3000", "Authorization": f"Bearer {key}"},
    )
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"


def test_the_gateways_own_origin_and_a_listed_one_pass(tmp_path, fake_server):
    app = make_app(tmp_path, fake_server, CORS_ORIGINS=["https://webui.example"])
    key = add_key(app, "alice")
    client = app.test_client()
    auth = {"Authorization": f"Bearer {key}"}

    def tags(origin: str, host: str = "localhost") -> int:
        headers = {"Origin": origin, "Host": host, **auth}
        return client.get("/api/tags", headers=headers).status_code

    assert tags("https://webui.example") == 200
    assert tags("https://gate.example", host="gate.example") == 200  # same origin
    assert tags("http://localhost:3000") == 403  # the list replaces Ollama's


@pytest.mark.parametrize("host", ["evil.example", "evil.example:11434", "a.evil.io."])
def test_a_rebinding_host_on_a_keyless_call_is_refused(tmp_path, fake_server, host):
    """A page at evil.example, its name pointed at the gateway, from a browser on a
    trusted network: refused; with a key (the page cannot know it) served."""
    app = make_app(tmp_path, fake_server, network="127.0.0.0/8")
    client = app.test_client()
    refused = client.get("/api/tags", headers={"Host": host})
    assert refused.status_code == 403
    assert "host not allowed" in refused.get_json()["error"]
    v1 = client.get("/v1/models", headers={"Host": host})
    assert v1.status_code == 403 and v1.get_json()["error"]["type"]
    assert client.get("/metrics", headers={"Host": host}).status_code == 403
    key = add_key(app, "alice")
    keyed = client.get("/api/tags", headers={"Host": host, "X-API-Key": key})
    assert keyed.status_code == 200


@pytest.mark.parametrize(
    "host",
    [
        "localhost:11434",
        "127.0.0.1:8080",
        "[::1]:8080",
        "192.168.1.10",
        "gpu.local",
        socket.gethostname(),
    ],
)
def test_the_gateways_own_names_serve_keyless_calls(tmp_path, fake_server, host):
    app = make_app(tmp_path, fake_server, network="127.0.0.0/8")
    client = app.test_client()
    assert client.get("/api/tags", headers={"Host": host}).status_code == 200
    assert client.get("/metrics", headers={"Host": host}).status_code == 200


def test_allowed_hosts_is_a_setting(tmp_path, fake_server):
    app = make_app(
        tmp_path, fake_server, network="127.0.0.0/8", ALLOWED_HOSTS=["gate.example"]
    )
    client = app.test_client()
    assert client.get("/api/tags", headers={"Host": "gate.example"}).status_code == 200
    assert client.get("/api/tags", headers={"Host": "gpu.local"}).status_code == 403
    from ollama_gate.hosts import AllowedHosts, host_name

    anything = AllowedHosts(["*"])
    assert anything.allowed("evil.example") and host_name("[::1]:80") == "::1"


def test_live_a_cross_site_post_and_a_rebinding_host(gateway, fake):
    """Through gunicorn: the browser's Origin and Host as sent on the wire."""
    user = "rebind-home"
    gateway.cli("users", "create", user, "--network", "127.0.0.0/8")
    try:
        url = gateway.url + "/api/generate"
        posted = requests.post(
            url, json=GENERATE, headers={"Origin": "http://evil.example"}, timeout=10
        )
        assert posted.status_code == 403
        rebound = requests.post(
            url, json=GENERATE, headers={"Host": "evil.example:8080"}, timeout=10
        )
        assert rebound.status_code == 403
        assert requests.post(url, json=GENERATE, timeout=10).status_code == 200
    finally:
        gateway.cli("users", "set", user, "--no-network")
