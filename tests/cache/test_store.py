"""The cache's stores, the database (SQLite, PostgreSQL) and Redis: get and put, TTL,
the size bounds evicting the oldest, counters, stats and clear."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis
from flask import current_app

from ollama_gate import create_app
from ollama_gate.cache import redis_store, store
from ollama_gate.cache.store import Entry, make_store
from ollama_gate.extensions import db
from ollama_gate.models import utcnow
from tests.helpers.services import REDIS_URL

TEST_REDIS = REDIS_URL.rsplit("/", 1)[0] + "/11"  # a database of its own, flushed


def entry(n: int, size: int = 10) -> Entry:
    return Entry(f"{n:064d}", "/api/embed", "m", bytes([n % 256]) * size)


@pytest.fixture(
    params=[
        "sqlite",
        # marked here, at collection, so a missing service skips before connecting
        pytest.param("postgres", marks=pytest.mark.needs_postgres),
        pytest.param("redis", marks=pytest.mark.needs_redis),
    ]
)
def make(request, tmp_path):
    """A maker of stores of one kind, with the given TTL and bounds, in an app
    context."""
    kind = request.param
    settings = {"SECRET_KEY": "x", "BACKENDS": ["http://127.0.0.1:9"]}
    if kind == "sqlite":
        settings["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'c.db'}"
    elif kind == "postgres":
        settings["SQLALCHEMY_DATABASE_URI"] = request.getfixturevalue("postgres_url")
    else:
        redis.Redis.from_url(TEST_REDIS).flushdb()
        settings["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'c.db'}"
        settings["REDIS_URL"] = TEST_REDIS
    ctx = None

    def build(ttl=60.0, max_bytes=10**9, max_entries=1000):
        nonlocal ctx
        app = create_app(
            {
                **settings,
                "CACHE_TTL_SECONDS": ttl,
                "CACHE_MAX_MB": max_bytes / 1024 / 1024,
                "CACHE_MAX_ENTRIES": max_entries,
            }
        )
        ctx = app.app_context()
        ctx.push()
        db.create_all()
        made = make_store(app)
        assert made.kind == ("redis" if kind == "redis" else "database")
        return made

    yield build
    if ctx is not None:
        db.session.remove()
        db.engine.dispose()
        ctx.pop()


@pytest.fixture()
def later(monkeypatch):
    """Move both stores' clocks ``seconds`` ahead."""

    def move(seconds: float) -> None:
        now = utcnow() + timedelta(seconds=seconds)
        monkeypatch.setattr(store, "utcnow", lambda: now)
        wall = redis_store.time.time() + seconds
        monkeypatch.setattr(redis_store, "time", type("T", (), {"time": lambda: wall}))

    return move


def test_put_then_get_and_replace(make):
    s = make()
    assert s.get(entry(1).key) is None
    s.put([entry(1), entry(2)])
    assert s.get(entry(1).key) == entry(1).body
    s.put([Entry(entry(1).key, "/api/chat", "m", b"new")])
    assert s.get(entry(1).key) == b"new"
    assert s.stats()["entries"] == 2 and s.stats()["bytes"] == 13


def test_entries_past_the_ttl_are_not_served_and_go(make, later):
    s = make(ttl=60)
    s.put([entry(1)])
    later(61)
    if s.kind == "database":  # Redis expires the key by itself (its TTL is set)
        assert s.get(entry(1).key) is None
    else:
        assert 0 < s.client.pttl(s.entry_prefix + entry(1).key) <= 60_000
    s.put([entry(2)])  # a later put evicts the expired one
    assert s.get(entry(1).key) is None
    assert s.stats() == {"entries": 1, "bytes": 10, "hits": 0, "misses": 0}


def test_the_entry_bound_evicts_the_oldest(make, later):
    s = make(max_entries=3)
    for n in range(5):
        later(n)  # one second apart: an order by age
        s.put([entry(n)])
    assert [s.get(entry(n).key) is not None for n in range(5)] == [
        False,
        False,
        True,
        True,
        True,
    ]
    assert s.stats()["entries"] == 3


def test_the_size_bound_evicts_the_oldest_until_it_fits(make, later):
    s = make(max_bytes=100)
    later(0)
    s.put([entry(1, 40), entry(2, 40)])
    later(1)
    s.put([entry(3, 50)])  # 130 bytes: the oldest two must go for it to fit
    # the oldest first (1 and 2 came together: by key), only until it fits
    assert [s.get(entry(n).key) is not None for n in (1, 2, 3)] == [False, True, True]
    assert s.stats()["bytes"] == 90


def test_counters_stats_and_clear(make):
    s = make()
    s.put([entry(1), entry(2)])
    s.count(3, 1)
    s.count(2, 0)
    assert s.stats() == {"entries": 2, "bytes": 20, "hits": 5, "misses": 1}
    assert s.clear() == 2
    assert s.stats() == {"entries": 0, "bytes": 0, "hits": 0, "misses": 0}
    assert s.get(entry(1).key) is None
    s.count(1, 1)  # counting again after a clear
    assert s.stats()["hits"] == 1


def test_two_stores_on_one_backend_share_entries(make):
    """Two workers' stores: what one puts the other gets; the same key put by both
    is one entry."""
    first = make()
    second = make_store(current_app)
    first.put([entry(1)])
    second.put([entry(1), entry(2)])
    assert first.get(entry(2).key) == entry(2).body
    assert first.stats()["entries"] == second.stats()["entries"] == 2
