"""Two gunicorn gevent workers share the store (the database, or Redis): an answer one
worker cached is a hit on the other, and both count in the shared figures."""

from __future__ import annotations

import time

import pytest
import redis

from ollama_gate.cache.models import CacheEntry
from ollama_gate.extensions import db
from tests.helpers.live import LiveGateway
from tests.helpers.services import REDIS_URL
from tests.limits.test_redis import one_session_per_worker

# several workers need Redis for the limits; the cache stays in the database
pytestmark = pytest.mark.needs_redis

TEST_REDIS = REDIS_URL.rsplit("/", 1)[0] + "/10"
CHAT = {
    "model": "llama3.2",
    "messages": [{"role": "user", "content": "Why is the sky blue?"}],
    "options": {"temperature": 0},
    "stream": True,
}


def stored(gw: LiveGateway, kind: str) -> int:
    """Entries in the gateway's store, read from outside it."""
    if kind == "redis":
        return redis.Redis.from_url(TEST_REDIS).zcard("ollama-gate:cache:order")
    with gw.app.app_context():
        return db.session.execute(db.select(db.func.count(CacheEntry.key))).scalar()


@pytest.mark.parametrize("kind", ["database", "redis"])
def test_two_workers_share_the_store(tmp_path, fake, kind):
    redis.Redis.from_url(TEST_REDIS).flushdb()
    gw = LiveGateway(
        tmp_path,
        fake.url,
        workers=2,
        env={
            "OLLAMA_GATE_REDIS_URL": TEST_REDIS,
            "OLLAMA_GATE_CACHE_STORE": kind,
            "OLLAMA_GATE_ACCESS_LOG": "1",
            "GUNICORN_CMD_ARGS": "--access-logformat=pid=%(p)s|%(s)s|%(U)s|%(q)s",
            # one connection a worker: two kept-alive sessions land on two workers
            "OLLAMA_GATE_WORKER_CONNECTIONS": "1",
        },
    ).start()
    try:
        key = gw.key()
        (_, a), (_, b) = one_session_per_worker(gw, key).items()
        headers = {"Authorization": f"Bearer {key}"}
        first = a.post(gw.url + "/api/chat", json=CHAT, headers=headers, timeout=10)
        assert first.headers["X-Ollama-Gate-Cache"] == "miss"
        for _ in range(100):  # the first worker stores it in the background
            if stored(gw, kind):
                break
            time.sleep(0.05)
        assert stored(gw, kind) == 1
        before = len(fake.requests_to("/api/chat"))
        hit = b.post(gw.url + "/api/chat", json=CHAT, headers=headers, timeout=10)
        assert hit.headers["X-Ollama-Gate-Cache"] == "hit"
        assert len(fake.requests_to("/api/chat")) == before  # no upstream call
        live = [ln for ln in first.text.splitlines() if '"done":true' in ln]
        replayed = [ln for ln in hit.text.splitlines() if '"done":true' in ln]
        assert live[0].split('"done":true')[1] == replayed[0].split('"done":true')[1]
        for _ in range(100):  # counted by each worker's recorder
            out = dict(
                ln.split("\t") for ln in gw.cli("cache", "stats").stdout.splitlines()
            )
            if out["hits"] == "1":
                break
            time.sleep(0.1)
        assert (out["store"], out["entries"], out["hits"], out["misses"]) == (
            kind,
            "1",
            "1",
            "1",
        )
    finally:
        gw.stop()
