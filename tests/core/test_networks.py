"""Trusted networks: calls without a key from a named network act as that user's
network key (its limits and history); off by default; X-Forwarded-For only through
TRUSTED_PROXIES; set with the CLI and on the user's page."""

from __future__ import annotations

import uuid

import ollama
import pytest

from ollama_gate import create_app
from ollama_gate.audit import AuditLog
from ollama_gate.extensions import db
from ollama_gate.keys import KeyCache, authenticate
from ollama_gate.models import ApiKey, User
from ollama_gate.netkeys import set_networks
from ollama_gate.networks import parse_networks
from tests.admin.test_keys import create_user
from tests.helpers.admin import login, make_admin, post
from tests.history.test_live import wait_for_records


def tags(client, addr: str, headers=None) -> int:
    return client.get(
        "/api/tags", headers=headers or {}, environ_base={"REMOTE_ADDR": addr}
    ).status_code


def test_off_by_default_and_on_for_the_named_network_only(app, runner, fake):
    client = app.test_client()
    assert tags(client, "192.168.1.20") == 401
    out = runner.invoke(args=["users", "create", "home", "--network", "192.168.1.0/24"])
    assert out.exit_code == 0, out.output
    assert "act as home" in out.output
    assert tags(client, "192.168.1.20") == 200
    assert tags(client, "192.168.2.20") == 401
    assert tags(client, "10.0.0.1") == 401
    assert tags(client, "192.168.1.20", {"Authorization": "Bearer og_wrong"}) == 401
    with app.app_context():
        key = db.session.execute(db.select(ApiKey)).scalar_one()
        assert key.networks == "192.168.1.0/24" and key.name == "trusted network"
        audit = db.session.execute(db.select(AuditLog).order_by(AuditLog.id)).scalars()
        assert [a.action for a in audit] == ["user_created", "user_networks"]


def test_calls_act_as_the_network_key_with_its_limits(app, runner, fake):
    runner.invoke(args=["users", "create", "lab", "--network", "10.1.0.0/16"])
    with app.app_context():
        key = db.session.execute(db.select(ApiKey)).scalar_one()
        key.model_allowlist = "qwen*"
        key.calls_per_day = 1
        db.session.commit()
        key_id = key.id
    client = app.test_client()
    body = {"model": "llama3.2", "prompt": "hi", "stream": False}
    refused = client.post(
        "/api/generate", json=body, environ_base={"REMOTE_ADDR": "10.1.2.3"}
    )
    assert refused.status_code == 403  # the key's allowlist applies
    with app.app_context():
        db.session.get(ApiKey, key_id).disabled = True
        db.session.commit()
    app.extensions["ollama_gate"].key_cache.clear()
    assert tags(client, "10.1.2.3") == 403  # disabling the key pauses the network
    assert runner.invoke(args=["users", "set", "lab", "--no-network"]).exit_code == 0
    assert tags(client, "10.1.2.3") == 401
    with app.app_context():
        assert db.session.get(ApiKey, key_id).revoked_at is not None


def test_narrowest_network_wins_and_ipv6(app):
    with app.app_context():
        wide, narrow, six = User(name="wide"), User(name="narrow"), User(name="six")
        db.session.add_all([wide, narrow, six])
        db.session.flush()
        set_networks(wide, "10.0.0.0/8")
        set_networks(narrow, ["10.9.9.0/24"])
        set_networks(six, "fd00::/8, 127.0.0.1")
        db.session.commit()
        cache = KeyCache(0)
        assert authenticate({}, cache, "10.9.9.9").user_name == "narrow"
        assert authenticate({}, cache, "10.8.0.1").user_name == "wide"
        assert authenticate({}, cache, "fd00::1").user_name == "six"
        assert authenticate({}, cache, "127.0.0.1").user_name == "six"
        for odd in ("not an ip", "", None, "::ffff:10.9.9.9x"):
            with pytest.raises(Exception) as info:
                authenticate({}, cache, odd)
            assert getattr(info.value, "status", None) == 401


@pytest.mark.parametrize(
    "bad", ["300.1.1.1/24", "lan", "0.0.0.0/0", "::/0", "1.2.3.4/33"]
)
def test_bad_networks_refused(app, runner, bad):
    out = runner.invoke(args=["users", "create", "x", "--network", bad])
    assert out.exit_code != 0 and "network" in out.output
    with pytest.raises(ValueError):
        parse_networks(bad)


def test_forwarded_for_only_through_trusted_proxies(tmp_path, fake):
    def make(proxies: str):
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "t",
                "SQLALCHEMY_DATABASE_URI": "sqlite:///"
                + str(tmp_path / f"p{len(proxies)}.db"),
                "BACKENDS": [fake.url],
                "KEY_CACHE_SECONDS": 0.0,
                "TRUSTED_PROXIES": proxies,
            }
        )
        with app.app_context():
            db.create_all()
            user = User(name="home")
            db.session.add(user)
            db.session.flush()
            set_networks(user, "192.168.1.0/24")
            db.session.commit()
        return app.test_client()

    spoof = {"X-Forwarded-For": "192.168.1.5"}
    assert tags(make(""), "203.0.113.9", spoof) == 401  # the header is not believed
    named = make("203.0.113.0/24")
    assert tags(named, "203.0.113.9", spoof) == 200  # from a named proxy: it is
    assert tags(named, "198.51.100.1", spoof) == 401  # from anyone else: not


def test_networks_on_the_user_page(app, client, fake):
    make_admin(app)
    login(client)
    uid = create_user(client, "office")
    page = f"/admin/users/{uid}"
    assert "Trusted networks" in client.get(page).text
    resp = post(
        client, f"{page}/networks", {"networks": "172.16.0.0/12, 10.2.0.0/16"}, page
    )
    assert resp.status_code == 302
    html = client.get(page).text
    assert "now act as office" in html and 'value="172.16.0.0/12, 10.2.0.0/16"' in html
    assert tags(app.test_client(), "172.20.1.1") == 200
    bad = post(client, f"{page}/networks", {"networks": "everything"}, page)
    assert "not a network" in client.get(bad.headers["Location"]).text
    post(client, f"{page}/networks", {"networks": ""}, page)
    assert tags(app.test_client(), "172.20.1.1") == 401


def test_the_ollama_client_without_a_key_is_served_and_recorded(gateway, fake):
    user = f"home-{uuid.uuid4().hex[:6]}"
    gateway.cli("users", "create", user, "--network", "127.0.0.0/8")
    try:
        client = ollama.Client(host=gateway.url)  # no key: as the ollama CLI
        reply = client.generate(model="llama3.2", prompt="hello from home")
        assert reply.response
        rows = wait_for_records(gateway, user, 1)
        assert len(rows) == 1 and rows[0].prompt_text == "hello from home"
        assert rows[0].key_prefix.startswith("og_")
    finally:
        gateway.cli("users", "set", user, "--no-network")
    with pytest.raises(ollama.ResponseError) as info:
        ollama.Client(host=gateway.url).list()
    assert info.value.status_code == 401
