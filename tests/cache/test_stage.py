"""The cache stage through the real app and the fake Ollama: hit, miss and bypass per
endpoint family and framing, what is never cached, digests, scopes, allowlists,
history and quotas."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from ollama_gate import create_app
from ollama_gate.cache import store
from ollama_gate.cache.entry import pack
from ollama_gate.cache.models import CacheEntry
from ollama_gate.extensions import db
from ollama_gate.history.models import Request
from ollama_gate.limits.usage import Usage
from ollama_gate.models import ApiKey, utcnow
from tests.helpers.keys import add_key

MESSAGES = [{"role": "user", "content": "Why is the sky blue?"}]
# (endpoint, pinned body without ``stream``)
FAMILIES = {
    "generate": ("/api/generate", {"prompt": "Why?", "options": {"temperature": 0}}),
    "chat": ("/api/chat", {"messages": MESSAGES, "options": {"seed": 42}}),
    "v1-chat": ("/v1/chat/completions", {"messages": MESSAGES, "temperature": 0}),
    "v1-completions": ("/v1/completions", {"prompt": "Why?", "seed": 7}),
}
EMBEDS = {
    "embed": ("/api/embed", {"model": "nomic-embed-text", "input": ["a", "b"]}),
    "embeddings": ("/api/embeddings", {"model": "nomic-embed-text", "prompt": "a"}),
    "v1-embeddings": (
        "/v1/embeddings",
        {"model": "nomic-embed-text", "input": "a", "encoding_format": "base64"},
    ),
}


def make_app(tmp_path, fake, **settings):
    """The gateway on a fresh SQLite database; digests read at every call."""
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'gate.db'}",
            "BACKENDS": [fake.url],
            "KEY_CACHE_SECONDS": 0.0,
            "HEALTH_INTERVAL": 0.0,  # digests read again at every call
            **settings,
        }
    )
    with app.app_context():
        db.create_all()
    return app


@pytest.fixture()
def gate(tmp_path, fake):
    app = make_app(tmp_path, fake)
    yield app
    app.extensions["ollama_gate"].recorder.flush()
    with app.app_context():
        db.engine.dispose()


def call(app, key, path, body, **headers):
    """POST ``body`` with ``key``; every background record written before it returns."""
    resp = app.test_client().post(
        path, json=body, headers={"Authorization": f"Bearer {key}", **headers}
    )
    resp.get_data()  # a stream is finished (and recorded) once read
    app.extensions["ollama_gate"].recorder.flush()
    return resp


def upstream_calls(fake, path):
    return len(fake.requests_to(path, "POST"))


def verdict(resp):
    return resp.headers.get("X-Ollama-Gate-Cache")


def body_for(family, stream):
    path, body = FAMILIES[family]
    return path, {"model": "llama3.2", **body, "stream": stream}


def lines(resp):
    """The JSON objects of an answer, whatever its framing, without times and ids."""
    data = resp.get_data()
    if resp.content_type.startswith("text/event-stream"):
        parts = [ln[6:] for ln in data.split(b"\n") if ln.startswith(b"data: ")]
        assert parts[-1] == b"[DONE]"
        objs = [json.loads(p) for p in parts[:-1]]
    elif resp.content_type.startswith("application/x-ndjson"):
        objs = [json.loads(ln) for ln in data.splitlines() if ln]
    else:
        objs = [json.loads(data)]
    for obj in objs:
        for name in ("created_at", "created", "id"):
            obj.pop(name, None)
    return objs


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_repeated_pinned_call_is_a_hit_like_the_live_answer(
    gate, fake, key, family, stream
):
    path, body = body_for(family, stream)
    first = call(gate, key, path, body)
    assert first.status_code == 200 and verdict(first) == "miss"
    second = call(gate, key, path, body)
    assert second.status_code == 200 and verdict(second) == "hit"
    assert upstream_calls(fake, path) == 1  # the hit reached no backend
    assert second.content_type.split(";")[0] == first.content_type.split(";")[0]
    assert lines(second) == lines(first)  # same objects, statistics included
    fresh = call(gate, key, path, body, **{"Cache-Control": "no-cache"})
    assert fresh.status_code == 200 and verdict(fresh) == "bypass"
    assert upstream_calls(fake, path) == 2 and lines(fresh) == lines(first)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_hit_is_answered_in_the_other_framing_too(gate, fake, key, family):
    path, streamed = body_for(family, True)
    _, whole = body_for(family, False)
    live_whole = call(gate, key, path, whole)  # cached as a whole answer
    assert verdict(live_whole) == "miss"
    as_stream = call(gate, key, path, streamed)
    assert verdict(as_stream) == "hit"
    assert as_stream.content_type.startswith(
        ("application/x-ndjson", "text/event-stream")
    )
    objs = lines(as_stream)
    if path.startswith("/v1/"):
        text = "".join(
            (c.get("delta") or {}).get("content") or c.get("text") or ""
            for o in objs
            for c in o["choices"]
        )
        whole_text = live_whole.get_json()["choices"][0]
        whole_text = (whole_text.get("message") or {}).get("content") or whole_text.get(
            "text"
        )
        assert "usage" not in objs[-1]  # the client did not ask for the usage chunk
    else:
        text = "".join(
            o.get("response") or o.get("message", {}).get("content") or "" for o in objs
        )
        live = live_whole.get_json()
        whole_text = live.get("response") or live["message"]["content"]
        final = objs[-1]
        assert final["done"] is True
        assert final["eval_count"] == live["eval_count"]
        assert final["total_duration"] == live["total_duration"]
    assert text == whole_text == fake.expected_text()
    assert upstream_calls(fake, path) == 1


@pytest.mark.parametrize("family", list(EMBEDS))
def test_embeddings_are_cached_always(gate, fake, key, family):
    path, body = EMBEDS[family]
    first = call(gate, key, path, body)
    second = call(gate, key, path, body)
    assert (verdict(first), verdict(second)) == ("miss", "hit")
    assert second.get_json() == first.get_json()
    assert upstream_calls(fake, path) == 1
    fresh = call(gate, key, path, body, **{"Cache-Control": "no-cache"})
    assert verdict(fresh) == "bypass" and upstream_calls(fake, path) == 2


def test_v1_stream_usage_is_replayed_only_when_asked(gate, fake, key):
    path, body = body_for("v1-chat", True)
    call(gate, key, path, body)
    asked = call(gate, key, path, {**body, "stream_options": {"include_usage": True}})
    assert verdict(asked) == "hit"
    usage = lines(asked)[-1]
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 8
    plain = call(gate, key, path, body)
    assert all("usage" not in o for o in lines(plain))


@pytest.mark.parametrize(
    "path, body",
    [
        ("/api/generate", {"prompt": "Why?"}),  # the model's temperature
        ("/api/generate", {"prompt": "Why?", "options": {"temperature": 0.7}}),
        ("/api/generate", {"prompt": "Why?", "options": {"seed": -1}}),
        ("/api/generate", {"prompt": "Why?", "options": {"Temperature": 0}}),
        ("/api/chat", {"messages": MESSAGES, "temperature": 0}),  # not an option
        ("/v1/chat/completions", {"messages": MESSAGES}),  # means temperature 1.0
        ("/v1/completions", {"prompt": "Why?", "options": {"temperature": 0}}),
        ("/api/generate", {"prompt": "", "options": {"temperature": 0}}),  # load
        ("/api/chat", {"messages": [], "options": {"temperature": 0}}),  # load
        (
            "/api/generate",
            {"prompt": "Why?", "options": {"temperature": 0}, "keep_alive": 0},
        ),
        (
            "/api/chat",
            {"messages": MESSAGES, "options": {"seed": 1}, "keep_alive": "0s"},
        ),
    ],
)
def test_unpinned_loads_and_unloads_are_never_cached(gate, fake, key, path, body):
    body = {"model": "llama3.2", "stream": False, **body}
    answers = [call(gate, key, path, body) for _ in range(2)]
    assert [verdict(a) for a in answers] == ["bypass", "bypass"]
    assert upstream_calls(fake, path) == 2
    with gate.app_context():
        assert gate.extensions["ollama_gate_cache"].store.stats()["entries"] == 0


def test_management_and_lists_are_never_cached(gate, fake, key):
    manage = add_key(gate, "ops", scopes="manage")
    client = gate.test_client()
    for _ in range(2):
        tags = client.get("/api/tags", headers={"Authorization": f"Bearer {key}"})
        ps = client.get("/api/ps", headers={"Authorization": f"Bearer {key}"})
        show = call(gate, key, "/api/show", {"model": "llama3.2"})
        copy = call(
            gate, manage, "/api/copy", {"source": "llama3.2", "destination": "x"}
        )
        assert {verdict(r) for r in (tags, ps, show, copy)} == {"bypass"}
    assert len(fake.requests_to("/api/ps")) >= 2  # asked each time (checks ask too)
    assert upstream_calls(fake, "/api/show") == 2


def test_mode_all_caches_unpinned_generations_and_off_caches_nothing(tmp_path, fake):
    body = {"model": "llama3.2", "prompt": "Why?", "stream": False}
    every = make_app(tmp_path / "all", fake, CACHE="all")
    key = add_key(every)
    assert [verdict(call(every, key, "/api/generate", body)) for _ in range(2)] == [
        "miss",
        "hit",
    ]
    off = make_app(tmp_path / "off", fake, CACHE="off")
    key = add_key(off)
    embed = EMBEDS["embed"][1]
    assert {verdict(call(off, key, "/api/embed", embed)) for _ in range(2)} == {
        "bypass"
    }


def test_stream_and_keep_alive_and_spelling_do_not_change_the_key(gate, fake, key):
    path, body = body_for("generate", False)
    call(gate, key, path, body)
    variants = [
        {**body, "stream": True, "keep_alive": "1h"},
        {**body, "options": {"temperature": 0.0}},  # 0.0 and 0 are one value to Go
        {"MODEL": "llama3.2:latest", "Prompt": "Why?", "options": {"temperature": 0}},
    ]
    assert [verdict(call(gate, key, path, v)) for v in variants] == ["hit"] * 3
    changed = {**body, "options": {"temperature": 0, "num_predict": 3}}
    assert verdict(call(gate, key, path, changed)) == "miss"
    assert verdict(call(gate, key, path, {**body, "format": "json"})) == "miss"


def test_a_new_model_digest_misses(gate, fake, key):
    path, body = body_for("chat", False)
    assert verdict(call(gate, key, path, body)) == "miss"
    assert verdict(call(gate, key, path, body)) == "hit"
    fake.add_model("llama3.2:latest", digest="f" * 64)  # re-pulled: new weights
    assert verdict(call(gate, key, path, body)) == "miss"
    assert verdict(call(gate, key, path, body)) == "hit"
    assert upstream_calls(fake, path) == 2


def test_a_model_without_a_digest_is_not_cached(gate, fake, key):
    body = {"model": "no-such-model", "prompt": "Why?", "options": {"temperature": 0}}
    answers = [call(gate, key, "/api/generate", body) for _ in range(2)]
    assert [(a.status_code, verdict(a)) for a in answers] == [(404, "bypass")] * 2


def test_the_user_scope_isolates_users_and_shares_among_a_users_keys(gate, fake):
    path, body = body_for("generate", False)
    alice, alice2, bob = (
        add_key(gate, "alice"),
        add_key(gate, "alice"),
        add_key(gate, "bob"),
    )
    assert verdict(call(gate, alice, path, body)) == "miss"
    assert verdict(call(gate, alice2, path, body)) == "hit"
    assert verdict(call(gate, bob, path, body)) == "miss"


def test_people_behind_one_app_key_do_not_share_answers(gate, fake):
    """An app key (Open WebUI) is one user for many people: a hit would tell one
    person that another asked exactly the same, so each person is a scope."""
    path, body = body_for("generate", False)
    plain = add_key(gate, "webui", name="open-webui")
    with gate.app_context():
        key = db.session.execute(db.select(ApiKey)).scalars().one()
        key.app = True
        db.session.commit()
    alice = {"X-Ollama-Gate-User": "alice-id", "X-Ollama-Gate-User-Name": "Alice"}
    bob = {"X-Ollama-Gate-User": "bob-id", "X-Ollama-Gate-User-Name": "Bob"}
    assert verdict(call(gate, plain, path, body, **alice)) == "miss"
    assert verdict(call(gate, plain, path, body, **alice)) == "hit"
    assert verdict(call(gate, plain, path, body, **bob)) == "miss"
    assert upstream_calls(fake, path) == 2


def test_the_shared_scope_serves_every_key_with_the_same_allowlist(tmp_path, fake):
    app = make_app(tmp_path, fake, CACHE_SCOPE="shared")
    path, body = body_for("generate", False)
    alice, bob = add_key(app, "alice"), add_key(app, "bob")
    narrow = add_key(app, "carol", model_allowlist="llama3*")
    assert verdict(call(app, alice, path, body)) == "miss"
    assert verdict(call(app, bob, path, body)) == "hit"
    # another allowlist never shares entries, even for a model both may use
    assert verdict(call(app, narrow, path, body)) == "miss"
    app.extensions["ollama_gate"].recorder.flush()


def test_a_key_that_may_not_use_the_model_is_refused_before_the_cache(tmp_path, fake):
    app = make_app(tmp_path, fake, CACHE_SCOPE="shared")
    path, body = body_for("generate", False)
    same_list = "qwen*, llama3*"
    allowed = add_key(app, "alice", model_allowlist=same_list)
    assert verdict(call(app, allowed, path, body)) == "miss"
    refused = add_key(app, "alice", model_allowlist="qwen*")
    answer = call(app, refused, path, body)
    assert (
        answer.status_code == 403 and "may not use model" in answer.get_json()["error"]
    )
    assert verdict(answer) is None and "response" not in answer.get_json()
    # the limits stage admits before any stage answers: the order is the pipeline's
    names = [s.name for s in app.extensions["ollama_gate"].pipeline.stages]
    assert names.index("limits") < names.index("cache") < names.index("routing")


def test_no_cache_bypasses_and_refreshes_no_store_leaves_it(gate, fake, key):
    path, body = body_for("generate", False)
    call(gate, key, path, body)
    fresh = call(gate, key, path, body, **{"Cache-Control": "no-cache"})
    assert verdict(fresh) == "bypass" and upstream_calls(fake, path) == 2
    assert verdict(call(gate, key, path, body, Pragma="no-cache")) == "bypass"
    untouched = call(gate, key, path, body, **{"Cache-Control": "no-store"})
    assert verdict(untouched) == "bypass" and upstream_calls(fake, path) == 4
    assert verdict(call(gate, key, path, body)) == "hit"


def test_failed_and_cut_answers_are_not_stored(tmp_path, fake):
    app = make_app(tmp_path, fake, HEALTH_INTERVAL=600.0)  # tags read once
    key = add_key(app)
    path, body = body_for("chat", True)
    fake.error_mid_stream = (2, "out of memory")
    assert verdict(call(app, key, path, body)) == "miss"
    fake.error_mid_stream = None
    fake.next_status = (500, {"error": "boom"})
    failed = call(app, key, path, {**body, "stream": False})
    assert (failed.status_code, verdict(failed)) == (500, "miss")
    fake.fail_mid_stream_after = 3  # the upstream connection drops mid-stream
    call(app, key, path, body)
    fake.fail_mid_stream_after = None
    assert verdict(call(app, key, path, body)) == "miss"  # none of them was kept
    assert verdict(call(app, key, path, body)) == "hit"
    app.extensions["ollama_gate"].recorder.flush()


def test_digests_unavailable_mean_bypass_never_an_error(gate, fake, key):
    path, body = body_for("generate", False)
    fake.next_status = (500, {"error": "boom"})  # taken by the digest lookup
    answer = call(gate, key, path, body)
    assert (answer.status_code, verdict(answer)) == (200, "bypass")
    assert verdict(call(gate, key, path, body)) == "miss"


def test_hits_are_recorded_in_history_and_not_charged_tokens(gate, fake):
    key = add_key(gate, tokens_per_day=10_000)
    path, body = body_for("generate", False)
    call(gate, key, path, body)
    call(gate, key, path, body)
    with gate.app_context():
        rows = (
            db.session.execute(db.select(Request).order_by(Request.id)).scalars().all()
        )
        assert [r.cache_hit for r in rows] == [False, True]
        assert rows[1].backend is None and rows[1].total_tokens == rows[0].total_tokens
        usage = db.session.execute(db.select(Usage)).scalars().first()
        assert usage.calls == 2 and usage.tokens == rows[0].total_tokens
    page = gate.extensions["ollama_gate_cache"]
    with gate.app_context():
        assert page.store.stats()["hits"] == 1 and page.store.stats()["misses"] == 1


def test_hits_count_tokens_when_the_setting_says(tmp_path, fake):
    app = make_app(tmp_path, fake, CACHE_HITS_COUNT_TOKENS=True)
    key = add_key(app, tokens_per_day=10_000)
    path, body = body_for("v1-chat", True)
    call(app, key, path, body)
    assert verdict(call(app, key, path, body)) == "hit"
    with app.app_context():
        rows = (
            db.session.execute(db.select(Request).order_by(Request.id)).scalars().all()
        )
        assert rows[1].cache_hit and rows[1].total_tokens == rows[0].total_tokens > 0
        usage = db.session.execute(db.select(Usage)).scalars().first()
        assert usage.tokens == 2 * rows[0].total_tokens


def test_keys_whose_history_keeps_no_text_are_never_cached(tmp_path, fake):
    """Metadata or off history means no answer text is kept: the cache keeps none."""
    app = make_app(tmp_path, fake, HISTORY_MODE="metadata")
    path, body = body_for("generate", False)
    quiet = add_key(app, "alice")
    assert {verdict(call(app, quiet, path, body)) for _ in range(2)} == {"bypass"}
    full = add_key(app, "bob", history_mode="full")  # its own mode wins
    assert [verdict(call(app, full, path, body)) for _ in range(2)] == ["miss", "hit"]
    with app.app_context():
        assert app.extensions["ollama_gate_cache"].store.stats()["entries"] == 1
    off = add_key(app, "bob", history_mode="off")
    assert verdict(call(app, off, path, body)) == "bypass"
    app.extensions["ollama_gate"].recorder.flush()


def test_the_bounds_evict_the_oldest_answer(tmp_path, fake):
    app = make_app(tmp_path, fake, CACHE_MAX_ENTRIES=1)
    key = add_key(app)
    one, two = ({"model": "nomic-embed-text", "input": text} for text in ("a", "b"))
    assert verdict(call(app, key, "/api/embed", one)) == "miss"
    assert verdict(call(app, key, "/api/embed", two)) == "miss"  # one is evicted
    assert verdict(call(app, key, "/api/embed", two)) == "hit"
    assert verdict(call(app, key, "/api/embed", one)) == "miss"
    app.extensions["ollama_gate"].recorder.flush()


def test_an_answer_past_its_ttl_misses(tmp_path, fake, monkeypatch):
    app = make_app(tmp_path, fake, CACHE_TTL_SECONDS=60.0)
    key = add_key(app)
    body = {"model": "nomic-embed-text", "input": "a"}
    assert verdict(call(app, key, "/api/embed", body)) == "miss"
    assert verdict(call(app, key, "/api/embed", body)) == "hit"
    later = utcnow() + timedelta(seconds=61)
    monkeypatch.setattr(store, "utcnow", lambda: later)
    assert verdict(call(app, key, "/api/embed", body)) == "miss"
    app.extensions["ollama_gate"].recorder.flush()


def test_a_damaged_entry_is_a_miss_and_replaced(gate, fake, key):
    path, body = body_for("chat", True)
    call(gate, key, path, body)
    with gate.app_context():
        entries = CacheEntry.__table__
        bad = pack({"v": 1, "framing": "ndjson", "objs": []})  # no objects at all
        db.session.execute(entries.update().values(body=bad))
        db.session.commit()
    damaged = call(gate, key, path, body)
    assert (damaged.status_code, verdict(damaged)) == (200, "miss")
    assert lines(damaged)[-1]["done"] is True
    with gate.app_context():
        db.session.execute(entries.update().values(body=b"not zlib"))
        db.session.commit()
    assert verdict(call(gate, key, path, body)) == "miss"
    assert verdict(call(gate, key, path, body)) == "hit"  # the fresh answer replaced it
