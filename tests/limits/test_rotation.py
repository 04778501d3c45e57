"""A rotated key is one identity with two secrets: the new secret counts on from the
old one's quotas, rate windows and concurrency cap, and during the grace period both
secrets together stay within them."""

from __future__ import annotations

import pytest

from ollama_gate.call import Call
from ollama_gate.errors import ApiError
from ollama_gate.extensions import db
from ollama_gate.keys import hash_key
from ollama_gate.models import ApiKey
from tests.admin.test_keys import KEY_RE, create_key, create_user
from tests.helpers.admin import login, make_admin, post

CHAT = {
    "model": "llama3.2",
    "messages": [{"role": "user", "content": "Hi"}],
    "stream": False,
    "options": {"num_predict": 8},  # a small hold: calls are judged by their use
}


@pytest.fixture()
def admin(app, client):
    """A logged-in admin ``root``; returns the client."""
    make_admin(app)
    assert login(client).status_code == 302
    return client


def rotate(admin, key_id: int) -> str:
    """Rotate a key with an hour of grace; the new secret."""
    page = f"/admin/keys/{key_id}"
    resp = post(admin, f"{page}/rotate", {"grace": "1h"}, f"{page}/rotate")
    assert resp.status_code == 303
    return KEY_RE.search(admin.get(resp.headers["Location"]).text).group(1)


def chat(client, plain: str) -> int:
    return client.post(
        "/api/chat", json=CHAT, headers={"Authorization": f"Bearer {plain}"}
    ).status_code


def used_today(app, client, plain: str) -> dict:
    app.extensions["ollama_gate"].recorder.flush()
    return client.get(
        "/gate/api/usage", headers={"Authorization": f"Bearer {plain}"}
    ).get_json()["usage"]["day"]


def test_new_secret_counts_on_from_the_old_ones_quotas(app, admin, fake):
    uid = create_user(admin, "carol")
    old, key_id = create_key(admin, uid, calls_per_day="4", tokens_per_day="100000")
    client = app.test_client()
    assert [chat(client, old), chat(client, old)] == [200, 200]
    before = used_today(app, client, old)
    new = rotate(admin, key_id)
    after = used_today(app, client, new)
    assert (after["calls"], after["tokens"]) == (2, before["tokens"]) != (2, 0)
    # in the grace period both secrets spend one quota of 4 calls
    assert [chat(client, new), chat(client, old)] == [200, 200]
    assert [chat(client, new), chat(client, old)] == [429, 429]
    assert used_today(app, client, new)["calls_left"] == 0


def test_both_secrets_share_one_rate_window(app, admin, fake):
    uid = create_user(admin, "dan")
    old, key_id = create_key(admin, uid, rate_limit="3/minute")
    client = app.test_client()

    def tags(plain: str) -> int:
        headers = {"Authorization": f"Bearer {plain}"}
        return client.get("/api/tags", headers=headers).status_code

    assert [tags(old), tags(old)] == [200, 200]
    new = rotate(admin, key_id)
    assert [tags(new), tags(new), tags(old)] == [200, 429, 429]


def test_both_secrets_share_one_concurrency_cap(app, admin, fake):
    uid = create_user(admin, "erin")
    old, key_id = create_key(admin, uid, max_concurrency="1")
    new = rotate(admin, key_id)
    cache = app.extensions["ollama_gate"].key_cache
    limits = app.extensions["ollama_gate_limits"]
    with app.app_context():
        ids = [cache.lookup(hash_key(plain)) for plain in (old, new)]
        assert ids[0].key_id != ids[1].key_id  # two rows, one identity
        calls = [Call(i, "POST", "/api/chat", "/api/chat", "/api/chat") for i in ids]
        limits.concurrency(calls[0])  # the old secret's call in flight
        with pytest.raises(ApiError) as refused:
            limits.concurrency(calls[1])
        assert refused.value.status == 429
        limits.concurrency.release(calls[0])
        limits.concurrency(calls[1])  # free again
        limits.concurrency.release(calls[1])


def test_rotating_twice_keeps_the_first_keys_counters(app, admin, fake):
    uid = create_user(admin, "finn")
    _, first_id = create_key(admin, uid, calls_per_day="10")
    rotate(admin, first_id)
    with app.app_context():
        second_id = db.session.execute(
            db.select(ApiKey.id).where(ApiKey.id != first_id)
        ).scalar_one()
    rotate(admin, second_id)
    with app.app_context():
        keys = db.session.execute(db.select(ApiKey).order_by(ApiKey.id)).scalars()
        assert [k.limits_id for k in keys] == [first_id] * 3
