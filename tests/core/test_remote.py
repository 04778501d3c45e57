"""Who the client is (``remote.py``): forwarding headers believed only from the
proxies ``TRUSTED_PROXIES`` names, the right-most address that is not a proxy, a
forwarded request from any other peer never local, IPv4-mapped peers as IPv4."""

from __future__ import annotations

import socket

import pytest
import requests

from ollama_gate import create_app
from ollama_gate.config import load_settings
from ollama_gate.extensions import db
from ollama_gate.history.models import Request
from ollama_gate.models import User
from ollama_gate.netkeys import set_networks
from tests.admin.test_auth import audit
from tests.helpers.admin import csrf_token, login, make_admin
from tests.helpers.keys import add_key
from tests.helpers.live import gateway_fixture
from tests.history.test_live import wait_for_records

FAR = "203.0.113.9"  # a client on the internet, reaching the port directly


def make_app(tmp_path, fake_server, network: str = "192.168.1.0/24", **settings):
    """An app with ``settings``: user ``home`` trusts ``network``; admin ``root``."""
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "t",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'remote.db'}",
            "BACKENDS": [fake_server.url],
            "KEY_CACHE_SECONDS": 0.0,
            **settings,
        }
    )
    with app.app_context():
        db.create_all()
        user = User(name="home")
        db.session.add(user)
        db.session.flush()
        set_networks(user, network)
        db.session.commit()
    make_admin(app)
    return app


def tags(app, peer: str, headers: dict | None = None) -> int:
    """A keyless ``/api/tags`` from socket peer ``peer``: its status."""
    return (
        app.test_client()
        .get("/api/tags", headers=headers or {}, environ_base={"REMOTE_ADDR": peer})
        .status_code
    )


def metrics(app, peer: str, headers: dict) -> int:
    return (
        app.test_client()
        .get("/metrics", headers=headers, environ_base={"REMOTE_ADDR": peer})
        .status_code
    )


def history_addresses(app) -> list[str]:
    app.extensions["ollama_gate"].recorder.flush()
    with app.app_context():
        return list(db.session.execute(db.select(Request.client_addr)).scalars())


def test_a_spoofed_forwarded_for_from_a_direct_client_is_not_believed(
    tmp_path, fake_server
):
    """Only the named proxy's headers count: a client that reaches the port itself
    gets no trusted network, no /metrics, and is recorded as itself."""
    app = make_app(tmp_path, fake_server, TRUSTED_PROXIES="10.9.9.9")
    spoof = {"X-Forwarded-For": "192.168.1.5"}
    assert tags(app, FAR, spoof) == 401
    assert tags(app, "10.9.9.9", spoof) == 200  # the proxy itself is believed
    assert metrics(app, FAR, {"X-Forwarded-For": "127.0.0.1"}) == 403
    key = add_key(app, "alice")
    reply = app.test_client().get(
        "/api/tags",
        headers={"Authorization": f"Bearer {key}", **spoof},
        environ_base={"REMOTE_ADDR": FAR},
    )
    assert reply.status_code == 200
    # the proxy's call was 192.168.1.5's; the spoofed one is the real peer's
    assert sorted(history_addresses(app)) == sorted(["192.168.1.5", FAR])


def test_a_spoofed_address_does_not_escape_the_login_limit(tmp_path, fake_server):
    app = make_app(
        tmp_path, fake_server, TRUSTED_PROXIES="10.9.9.9", LOGIN_RATE_LIMIT="1/minute"
    )
    client = app.test_client()
    first = {"X-Forwarded-For": "198.51.100.1"}
    env = {"REMOTE_ADDR": FAR}
    assert login(client, password="wrong one", headers=first, environ=env).status_code
    again = login(client, headers={"X-Forwarded-For": "198.51.100.2"}, environ=env)
    assert again.status_code == 429
    assert [addr for *_, addr in audit(app)] == [FAR]


def test_a_spoofed_address_does_not_escape_the_self_service_limit(
    tmp_path, fake_server
):
    app = make_app(
        tmp_path,
        fake_server,
        TRUSTED_PROXIES="10.9.9.9",
        SELF_SERVICE_RATE_LIMIT="1/minute",
    )
    client = app.test_client()
    statuses = []
    for n in range(2):
        token = csrf_token(client, "/gate/usage")
        statuses.append(
            client.post(
                "/gate/usage",
                data={"csrf_token": token, "key": "og_guess"},
                headers={"X-Forwarded-For": f"198.51.100.{n}"},
                environ_base={"REMOTE_ADDR": FAR},
            ).status_code
        )
    assert statuses[0] != 429 and statuses[1] == 429


def test_a_trusted_proxy_chain_gives_the_right_most_untrusted_address(
    tmp_path, fake_server
):
    app = make_app(tmp_path, fake_server, TRUSTED_PROXIES="127.0.0.1, 10.0.0.0/8")

    def via_proxy(chain: str) -> int:
        return tags(app, "127.0.0.1", {"X-Forwarded-For": chain})

    assert via_proxy("192.168.1.5") == 200
    assert via_proxy("6.6.6.6, 192.168.1.5, 10.0.0.7") == 200  # past our proxies
    assert via_proxy("192.168.1.5, 203.0.113.9") == 401  # the client added the left
    assert via_proxy("192.168.1.5:4711") == 200  # a port (Azure's proxies add one)
    chain = {"X-Forwarded-For": "198.51.100.7, 10.1.1.1"}
    login(app.test_client(), password="wrong one", headers=chain)
    assert [addr for *_, addr in audit(app)][-1:] == ["198.51.100.7"]


@pytest.mark.parametrize(
    "chain", ["not-an-address", "192.168.1.5, <script>", "192.168.1.5, unknown"]
)
def test_forwarded_values_that_are_not_addresses_are_ignored(
    tmp_path, fake_server, chain
):
    """A hop that is not an address ends the chain: what is left of it is not
    believed, and the client is the proxy's, never local."""
    app = make_app(tmp_path, fake_server, TRUSTED_PROXIES="127.0.0.1")
    assert tags(app, "127.0.0.1", {"X-Forwarded-For": chain}) == 401
    assert metrics(app, "127.0.0.1", {"X-Forwarded-For": chain}) == 403


def test_the_other_proxy_headers_when_named(tmp_path, fake_server):
    app = make_app(
        tmp_path, fake_server, TRUSTED_PROXIES="127.0.0.1", PROXY_HEADER="Forwarded"
    )
    forwarded = {"Forwarded": 'for="[2001:db8::1]:4711", for=192.168.1.5;proto=https'}
    assert tags(app, "127.0.0.1", forwarded) == 200
    # the header the proxy does not set is the client's own: not believed
    assert tags(app, "127.0.0.1", {"X-Forwarded-For": "192.168.1.5"}) == 401
    real = make_app(
        tmp_path / "r",
        fake_server,
        TRUSTED_PROXIES="127.0.0.1",
        PROXY_HEADER="X-Real-IP",
    )
    assert tags(real, "127.0.0.1", {"X-Real-IP": "192.168.1.5"}) == 200


@pytest.mark.parametrize("count", ["1", "2"])
def test_a_count_of_proxies_is_refused_with_what_to_write(count):
    with pytest.raises(RuntimeError) as info:
        load_settings({"OLLAMA_GATE_TRUSTED_PROXIES": count})
    message = str(info.value)
    assert "OLLAMA_GATE_TRUSTED_PROXIES" in message and "count" in message
    assert "OLLAMA_GATE_TRUSTED_PROXIES=127.0.0.1" in message
    assert load_settings({"OLLAMA_GATE_TRUSTED_PROXIES": "0"})["TRUSTED_PROXIES"] == []


@pytest.mark.parametrize(
    "header",
    [
        {"X-Real-IP": "203.0.113.9"},
        {"Forwarded": "for=203.0.113.9"},
        {"X-Forwarded-For": "203.0.113.9"},
        {"CF-Connecting-IP": "203.0.113.9"},
    ],
)
def test_a_forwarded_request_from_a_same_host_proxy_is_not_local(
    tmp_path, fake_server, header
):
    """Without TRUSTED_PROXIES, nginx on this host (peer 127.0.0.1) speaking for a
    client opens neither /metrics nor a trusted network holding its address."""
    app = make_app(tmp_path, fake_server, network="127.0.0.0/8")
    assert metrics(app, "127.0.0.1", {}) == 200 and tags(app, "127.0.0.1") == 200
    assert metrics(app, "127.0.0.1", header) == 403
    assert tags(app, "127.0.0.1", header) == 401


def test_ipv4_mapped_peers_are_read_as_ipv4(tmp_path, fake_server):
    """A socket bound to [::] sees IPv4 clients as ``::ffff:a.b.c.d``."""
    app = make_app(tmp_path, fake_server)
    assert tags(app, "::ffff:192.168.1.5") == 200
    assert history_addresses(app) == ["192.168.1.5"]
    login(app.test_client(), environ={"REMOTE_ADDR": "::ffff:127.0.0.1"})
    assert [addr for *_, addr in audit(app)][-1:] == ["127.0.0.1"]


# a live gateway bound to [::] (IPv4 peers arrive IPv4-mapped) behind "nginx" here
dual = gateway_fixture(
    "dual",
    {
        "OLLAMA_GATE_HOST": "[::]",
        "OLLAMA_GATE_TRUSTED_PROXIES": "127.0.0.1",
        "OLLAMA_GATE_MAX_CONNECTIONS_PER_CLIENT": "2",  # 127.0.0.1 is uncapped
    },
)
# a live gateway whose proxy is elsewhere: a local client is a direct one
direct = gateway_fixture("direct", {"OLLAMA_GATE_TRUSTED_PROXIES": "10.9.9.9"})


def live_tags(gw, headers: dict | None = None) -> requests.Response:
    return requests.get(gw.url + "/api/tags", headers=headers or {}, timeout=10)


def test_live_a_proxy_on_this_host_under_a_dual_stack_bind(dual):
    dual.cli("users", "create", "lan", "--network", "192.168.7.0/24")
    dual.cli("users", "create", "here", "--network", "127.0.0.0/8")
    assert live_tags(dual, {"X-Forwarded-For": "192.168.7.7"}).status_code == 200
    assert live_tags(dual, {"X-Forwarded-For": "8.8.8.8"}).status_code == 401
    assert live_tags(dual).status_code == 200  # ::ffff:127.0.0.1 is 127.0.0.1
    rows = wait_for_records(dual, "here", 1)
    assert [r.client_addr for r in rows] == ["127.0.0.1"]
    assert [r.client_addr for r in wait_for_records(dual, "lan", 1)] == ["192.168.7.7"]


def test_live_the_connection_cap_reads_mapped_peers_as_ipv4(dual):
    """The default UNCAPPED_ADDRESSES (127.0.0.1) holds under [::] too."""
    held = [socket.create_connection(("127.0.0.1", dual.port)) for _ in range(3)]
    try:
        for sock in held:
            sock.sendall(b"GET /api/version HTTP/1.1\r\nHost: localhost\r\n\r\n")
            sock.settimeout(10)
            assert sock.recv(12) == b"HTTP/1.1 200"
    finally:
        for sock in held:
            sock.close()


def test_live_a_direct_client_cannot_pose_as_forwarded(direct):
    direct.cli("users", "create", "lan", "--network", "192.168.7.0/24")
    spoof = {"X-Forwarded-For": "192.168.7.7"}
    assert live_tags(direct, spoof).status_code == 401
    scraped = requests.get(direct.url + "/metrics", headers=spoof, timeout=10)
    assert scraped.status_code == 403
    assert requests.get(direct.url + "/metrics", timeout=10).status_code == 200
    key = direct.key("bob")
    reply = live_tags(direct, {"Authorization": f"Bearer {key}", **spoof})
    assert reply.status_code == 200
    assert [r.client_addr for r in wait_for_records(direct, "bob", 1)] == ["127.0.0.1"]
