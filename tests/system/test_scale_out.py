"""Scale-out proof: two gateway hosts (two gunicorn masters, two gevent workers each,
on two ports) on one PostgreSQL database and one Redis. One key's rate limit holds
exactly across both, history from both is one list, and a key revoked on one host is
refused by the other within the key cache window. One host reads its database as
``postgres://`` (the PaaS spelling), the other as ``postgresql://``."""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from ollama_gate import create_app
from ollama_gate.config import _normalise_db_url
from ollama_gate.keys import visible_prefix
from tests.helpers.live import LiveGateway
from tests.helpers.services import REDIS_URL

pytestmark = [pytest.mark.needs_postgres, pytest.mark.needs_redis]

KEY_CACHE = 2.0  # seconds each worker may keep a key it looked up
SHARED_REDIS = REDIS_URL.rsplit("/", 1)[0] + "/12"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def host(tmp, backend: str, database: str, prefix: str) -> LiveGateway:
    """One gateway host: its own gunicorn master and two workers, shared stores."""
    tmp.mkdir()
    gw = LiveGateway(
        tmp,
        backend,
        workers=2,
        env={
            "DATABASE_URL": database,
            "OLLAMA_GATE_REDIS_URL": SHARED_REDIS,
            "OLLAMA_GATE_REDIS_PREFIX": prefix,  # this test's counters only
            "OLLAMA_GATE_KEY_CACHE_SECONDS": str(KEY_CACHE),
        },
    )
    gw.app = create_app(  # keys are made straight in the shared database
        {
            "SQLALCHEMY_DATABASE_URI": _normalise_db_url(database),
            "SECRET_KEY": "live-test-secret",
        }
    )
    return gw


@pytest.fixture()
def hosts(tmp_path, fake_server, postgres_url):
    """Hosts a and b, started one after the other (each migrates first: the second
    finds nothing to do)."""
    where = postgres_url.split("://", 1)[1]  # user@host:port/name
    prefix = f"scale-{uuid.uuid4().hex[:8]}"
    a = host(tmp_path / "a", fake_server.url, f"postgres://{where}", prefix)
    b = host(tmp_path / "b", fake_server.url, f"postgresql://{where}", prefix)
    try:
        a.start()
        b.start()
        yield a, b
    finally:
        b.stop()
        a.stop()


def test_one_rate_limit_over_both_hosts(hosts):
    """Alone, each host would allow ten; together they allow ten in all."""
    a, b = hosts
    key = a.key(rate_limit="10/minute")

    def status(gw: LiveGateway) -> int:
        return requests.get(
            gw.url + "/api/version", headers=auth(key), timeout=10
        ).status_code

    first = [status(a) for _ in range(5)] + [status(b) for _ in range(5)]
    assert first == [200] * 10
    assert [status(a), status(b), status(b), status(a)] == [429] * 4


def test_history_from_both_hosts_is_one_list(hosts, fake_server):
    a, b = hosts
    key = a.key()
    for gw, name in ((a, "from-a"), (b, "from-b"), (a, "from-a-2"), (b, "from-b-2")):
        reply = requests.post(
            gw.url + "/api/generate",
            json={"model": "llama3.2", "prompt": name, "stream": False},
            headers=auth(key),
            timeout=30,
        )
        assert reply.status_code == 200
    deadline = time.monotonic() + 20
    while True:  # each host writes its records a moment after the answer
        listed = {}
        for gw in (a, b):
            reply = requests.get(
                gw.url + "/gate/api/history", headers=auth(key), timeout=10
            )
            assert reply.status_code == 200
            listed[gw.url] = [row["prompt"] for row in reply.json()["data"]]
        if len(listed[a.url]) == 4 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    both = ["from-b-2", "from-a-2", "from-b", "from-a"]  # newest first
    assert listed[a.url] == both and listed[b.url] == both


def test_a_key_revoked_on_one_host_is_refused_by_the_other(hosts):
    a, b = hosts
    key = a.key()
    for gw in (a, b, b, a):  # looked up and cached by workers of both hosts
        reply = requests.get(gw.url + "/api/tags", headers=auth(key), timeout=10)
        assert reply.status_code == 200
    a.cli("keys", "revoke", visible_prefix(key))  # on host a
    revoked = time.monotonic()
    refused: dict[str, float] = {}
    while len(refused) < 2 and time.monotonic() - revoked < KEY_CACHE + 5:
        for gw in (b, a):
            if gw.url in refused:
                continue
            reply = requests.get(gw.url + "/api/tags", headers=auth(key), timeout=10)
            if reply.status_code in (401, 403):
                refused[gw.url] = time.monotonic() - revoked
        time.sleep(0.1)
    assert b.url in refused and a.url in refused, refused
    # within the window (and a margin for a loaded machine): never served longer
    assert max(refused.values()) < KEY_CACHE + 5
    # each worker caches the key on its own: once the window has passed since the
    # revocation, every worker of both hosts refuses it
    time.sleep(max(0.0, revoked + KEY_CACHE + 0.5 - time.monotonic()))
    for gw in (a, b, b, a):  # and refused for good, by every worker
        reply = requests.get(gw.url + "/api/tags", headers=auth(key), timeout=10)
        assert reply.status_code in (401, 403)
