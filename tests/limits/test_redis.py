"""Limits shared through Redis: exact across two gunicorn workers, restart-safe."""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
import requests

from ollama_gate import create_app
from ollama_gate.extensions import db
from tests.helpers.keys import add_key
from tests.helpers.live import LiveGateway
from tests.helpers.services import REDIS_URL

pytestmark = pytest.mark.needs_redis

# a database of its own on the machine's Redis, flushed before use
TEST_REDIS = REDIS_URL.rsplit("/", 1)[0] + "/13"
CHAT = {
    "model": "llama3.2",
    "messages": [{"role": "user", "content": "Hi"}],
    "stream": False,
}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def two_worker_gateway(tmp, backend: str, **env: str) -> LiveGateway:
    """A live gateway, two gevent workers sharing Redis; logs each call's worker pid."""
    redis.Redis.from_url(TEST_REDIS).flushdb()
    return LiveGateway(
        tmp,
        backend,
        workers=2,
        env={
            "OLLAMA_GATE_REDIS_URL": TEST_REDIS,
            "OLLAMA_GATE_ACCESS_LOG": "1",
            "GUNICORN_CMD_ARGS": "--access-logformat=pid=%(p)s|%(s)s|%(U)s|%(q)s",
            **env,
        },
    ).start()


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory, fake_server):
    """Two workers sharing Redis, each with its usual thousands of connections."""
    gw = two_worker_gateway(tmp_path_factory.mktemp("redis2"), fake_server.url)
    yield gw
    gw.stop()


def answering_pid(gw: LiveGateway, probe: str) -> str:
    """The pid of the worker that answered ``/api/version?probe=PROBE``."""
    for _ in range(250):  # the access line is written just after the answer
        found = re.search(
            rf"pid=<(\d+)>\|\d+\|/api/version\|probe={probe}\b",
            gw.log_path.read_text(),
        )
        if found:
            return found.group(1)
        time.sleep(0.02)
    raise AssertionError(f"no access line for probe {probe}")


def one_session_per_worker(gw: LiveGateway, key: str) -> dict[str, requests.Session]:
    """Two keep-alive sessions on two different workers, by construction, by pid.

    The gateway's workers hold one connection each (OLLAMA_GATE_WORKER_CONNECTIONS=1)
    and a full worker stops accepting (gevent's pool), so while the first session
    stays open on one worker the kernel can give the second connection only to the
    other: no luck involved, whatever worker the kernel favours.
    """
    sessions = {}
    for probe in ("first", "second"):
        session = requests.Session()
        answer = session.get(
            f"{gw.url}/api/version?probe={probe}", headers=auth(key), timeout=30
        )
        assert answer.status_code == 200
        sessions[answering_pid(gw, probe)] = session
    assert len(sessions) == 2, "both sessions on one worker"
    return sessions


def test_two_workers_share_the_rate_limit_deterministically(tmp_path, fake_server):
    """Each worker alone would allow 4; shared, the fifth call on either is refused."""
    gw = two_worker_gateway(
        tmp_path, fake_server.url, OLLAMA_GATE_WORKER_CONNECTIONS="1"
    )
    try:
        (pid_a, a), (pid_b, b) = one_session_per_worker(gw, gw.key()).items()
        key = gw.key(rate_limit="4/minute")  # the probes above were another key's

        def status(session, call: str) -> int:
            return session.get(
                f"{gw.url}/api/version?probe={call}", headers=auth(key), timeout=10
            ).status_code

        four = [status(a, "a1"), status(a, "a2"), status(b, "b1"), status(b, "b2")]
        assert four == [200] * 4
        assert [status(a, "a3"), status(b, "b3")] == [429, 429]
        # each call was answered by its session's worker: two processes counted them
        assert {answering_pid(gw, f"a{n}") for n in (1, 2, 3)} == {pid_a}
        assert {answering_pid(gw, f"b{n}") for n in (1, 2, 3)} == {pid_b}
    finally:
        gw.stop()


def burst(fn, n: int) -> list[int]:
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(fn, range(n)))


def test_rate_limit_exact_across_two_workers(two_workers):
    key = two_workers.key(rate_limit="10/minute")

    def one(_):
        return requests.get(
            two_workers.url + "/api/version", headers=auth(key), timeout=30
        ).status_code

    codes = burst(one, 80)
    assert codes.count(200) == 10 and codes.count(429) == 70


def test_calls_quota_exact_across_two_workers(two_workers):
    key = two_workers.key(calls_per_day=7)

    def one(_):
        return requests.post(
            two_workers.url + "/api/chat", json=CHAT, headers=auth(key), timeout=30
        ).status_code

    codes = burst(one, 40)
    assert codes.count(200) == 7 and codes.count(429) == 33
    out = two_workers.cli("keys", "usage", key[:11]).stdout
    assert "calls 7 / 7" in out  # read live from Redis


def test_token_quota_shared_across_workers(two_workers):
    key = two_workers.key(tokens_per_day=1)
    assert (
        requests.post(
            two_workers.url + "/api/chat", json=CHAT, headers=auth(key), timeout=30
        ).status_code
        == 200
    )
    deadline = time.monotonic() + 10
    while "tokens 0 / 1" in two_workers.cli("keys", "usage", key[:11]).stdout:
        assert time.monotonic() < deadline, "the recorder never counted the tokens"
        time.sleep(0.1)
    codes = burst(
        lambda _: (
            requests.post(
                two_workers.url + "/api/chat", json=CHAT, headers=auth(key), timeout=30
            ).status_code
        ),
        8,
    )
    assert codes == [429] * 8  # whichever worker answers knows the tokens


def test_concurrency_cap_across_two_workers(two_workers, fake):
    key = two_workers.key(max_concurrency=3)
    fake.hold_second_chunk = True
    answered = threading.Semaphore(0)

    def one(_):
        with requests.post(
            two_workers.url + "/api/generate",
            headers=auth(key),
            stream=True,
            json={"model": "llama3.2", "prompt": "Hi"},
            timeout=30,
        ) as resp:
            if resp.status_code == 200:
                pieces = resp.iter_content(None)
                next(pieces)
                answered.release()
                body = b"".join(pieces)  # held until the fake is released
                assert b'"done":true' in body  # read to the very end
            else:
                answered.release()
            return resp.status_code

    with ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(one, i) for i in range(16)]
        for _ in range(16):
            assert answered.acquire(timeout=20)
        fake.release.set()
        codes = [f.result() for f in futures]
    assert codes.count(200) == 3 and codes.count(429) == 13
    fake.hold_second_chunk = False
    after = requests.post(
        two_workers.url + "/api/chat", json=CHAT, headers=auth(key), timeout=30
    )
    assert after.status_code == 200, after.text  # every slot came back


def test_counters_reseeded_from_the_database_after_redis_loses_them(
    tmp_path, fake_server
):
    client = redis.Redis.from_url(TEST_REDIS)
    client.flushdb()
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "s",
            "KEY_CACHE_SECONDS": 0.0,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'r.db'}",
            "BACKENDS": [fake_server.url],
            "REDIS_URL": TEST_REDIS,
            "REDIS_PREFIX": "og-test",
        }
    )
    with app.app_context():
        db.create_all()
    key = add_key(app, calls_per_day=3)
    web = app.test_client()
    for _ in range(2):
        assert web.post("/api/chat", json=CHAT, headers=auth(key)).status_code == 200
    app.extensions["ollama_gate"].recorder.flush()
    assert client.keys("og-test:quota:*")  # the prefix is applied
    client.flushdb()  # as after a Redis restart without persistence
    codes = [
        web.post("/api/chat", json=CHAT, headers=auth(key)).status_code
        for _ in range(2)
    ]
    assert codes == [200, 429]
    app.extensions["ollama_gate"].recorder.flush()
    with app.app_context():
        db.engine.dispose()


def test_redis_down_gives_503_not_500(tmp_path, fake_server):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "s",
            "KEY_CACHE_SECONDS": 0.0,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'd.db'}",
            "BACKENDS": [fake_server.url],
            "REDIS_URL": "redis://127.0.0.1:1/0",
        }
    )  # nothing listens there
    with app.app_context():
        db.create_all()
    key = add_key(app)
    resp = app.test_client().get("/v1/models", headers=auth(key))
    assert resp.status_code == 503
    assert "limit storage is unavailable" in resp.get_json()["error"]["message"]
    with app.app_context():
        db.engine.dispose()


def test_burst_larger_than_the_redis_pool_waits_instead_of_failing(
    tmp_path_factory, fake_server
):
    """200 concurrent calls through 2 Redis connections per worker: all pass, no 503."""
    pool_db = REDIS_URL.rsplit("/", 1)[0] + "/12"  # its own database: clients countable
    redis.Redis.from_url(pool_db).flushdb()
    gw = LiveGateway(
        tmp_path_factory.mktemp("redis-pool"),
        fake_server.url,
        env={
            "OLLAMA_GATE_REDIS_URL": pool_db,
            "OLLAMA_GATE_REDIS_MAX_CONNECTIONS": "2",
        },
    ).start()
    try:
        key = gw.key(rate_limit="unlimited", calls_per_day=1000, max_concurrency=500)

        def one(_):
            return requests.post(
                gw.url + "/api/chat", json=CHAT, headers=auth(key), timeout=60
            ).status_code

        codes = burst(one, 200)
        assert codes == [200] * 200
        clients = redis.Redis.from_url(pool_db).client_list()
        assert len([c for c in clients if c["db"] == "12"]) <= 2 + 1  # pool + this test
    finally:
        gw.stop()
