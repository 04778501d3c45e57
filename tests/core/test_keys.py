"""Key format, hashing, the lookup cache, last-use tracking, and keys on PostgreSQL."""

from __future__ import annotations

import time

import pytest

from ollama_gate import create_app
from ollama_gate.extensions import db
from ollama_gate.keys import generate_key, hash_key, visible_prefix
from ollama_gate.models import ApiKey, utcnow
from tests.helpers.keys import add_key


def test_key_format_and_hash():
    keys = {generate_key() for _ in range(200)}
    assert len(keys) == 200
    key = keys.pop()
    assert key.startswith("og_") and len(key) == 3 + 43  # 32 random bytes, URL-safe
    assert hash_key(key) != key and len(hash_key(key)) == 64
    assert visible_prefix(key) == key[:11]
    assert visible_prefix("plain-old-key-from-a-file-of-keys") == "plain-ol"
    assert visible_prefix("sixteen-char-key") == "sixt"  # a quarter of a short key


def test_revocation_takes_effect_within_the_cache_window(app, client, fake, key):
    gate = app.extensions["ollama_gate"]
    gate.key_cache.ttl = 0.3
    headers = {"X-API-Key": key}
    assert client.get("/api/ps", headers=headers).status_code == 200
    with app.app_context():
        db.session.execute(db.update(ApiKey).values(revoked_at=utcnow()))
        db.session.commit()
    assert client.get("/api/ps", headers=headers).status_code == 200  # still cached
    time.sleep(0.35)
    assert client.get("/api/ps", headers=headers).status_code == 403


def test_unknown_keys_are_cached_too(app, client, fake):
    gate = app.extensions["ollama_gate"]
    gate.key_cache.ttl = 60
    for _ in range(3):
        assert client.get("/api/ps", headers={"X-API-Key": "nope"}).status_code == 401
    assert hash_key("nope") in gate.key_cache._entries


def test_last_used_is_recorded_after_the_call(app, client, fake, key):
    assert (
        client.post(
            "/api/generate",
            json={"model": "llama3.2", "prompt": "hi"},
            headers={"X-API-Key": key},
        ).status_code
        == 200
    )
    app.extensions["ollama_gate"].recorder.flush()
    with app.app_context():
        row = db.session.execute(db.select(ApiKey)).scalar_one()
        assert row.last_used_at is not None


@pytest.mark.needs_postgres
def test_keys_on_postgresql(postgres_url, fake):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "t",
            "BACKENDS": [fake.url],
            "SQLALCHEMY_DATABASE_URI": postgres_url,
            "KEY_CACHE_SECONDS": 0.0,
        }
    )
    with app.app_context():
        db.create_all()
    key = add_key(app, "pg-user")
    client = app.test_client()
    assert (
        client.get("/api/tags", headers={"Authorization": f"Bearer {key}"}).status_code
        == 200
    )
    assert client.get("/api/tags", headers={"X-API-Key": key + "x"}).status_code == 401
    app.extensions["ollama_gate"].recorder.flush()
    with app.app_context():
        assert (
            db.session.execute(db.select(ApiKey)).scalar_one().last_used_at is not None
        )
        db.engine.dispose()


@pytest.mark.parametrize(
    ("path", "shape"),
    [("/api/tags", str), ("/v1/models", dict), ("/gate/api/history", str)],
)
def test_key_store_unavailable_is_503_not_500(app, client, fake, key, path, shape):
    """A key lookup that cannot reach its table is the gateway's 503 in each shape."""
    with app.app_context():
        ApiKey.__table__.drop(db.engine)  # the database lost its keys table
    resp = client.get(path, headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 503
    assert isinstance(resp.get_json()["error"], shape)
    assert not fake.requests
