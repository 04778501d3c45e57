"""History records: exact for each kind of call; images, modes, errors, PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from sqlalchemy import select

from ollama_gate import create_app
from ollama_gate.extensions import db
from ollama_gate.history.models import Request, new_id
from ollama_gate.models import ApiKey, utcnow
from tests.fakes.ollama import WORDS, expected_text
from tests.helpers.keys import add_key


def records(app) -> list[Request]:
    """Every history record, oldest first, after the recorder has caught up."""
    app.extensions["ollama_gate"].recorder.flush()
    with app.app_context():
        rows = db.session.execute(select(Request).order_by(Request.id)).scalars().all()
        db.session.expunge_all()
        return rows


def one(app) -> Request:
    """The single history record."""
    rows = records(app)
    assert len(rows) == 1, [r.endpoint for r in rows]
    return rows[0]


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def post(client, path: str, body: dict, key: str, **headers: str):
    """POST ``body`` with ``key``, reading the whole answer (so the call finishes)."""
    resp = client.post(path, json=body, headers=auth(key) | headers)
    resp.get_data()
    resp.close()
    return resp


@pytest.mark.parametrize("stream", [True, False])
def test_generate_record_is_exact(app, client, key, stream):
    body = {
        "model": "llama3.2",
        "prompt": "Why is the sky blue?",
        "system": "Be brief",
        "options": {"temperature": 0.1},
        "stream": stream,
    }
    resp = post(client, "/api/generate", body, key, **{"User-Agent": "t/1"})
    assert resp.status_code == 200
    rec = one(app)
    assert rec.user_name == "alice" and rec.key_prefix == key[:11] and rec.user_id
    assert (rec.method, rec.endpoint, rec.path, rec.model) == (
        "POST",
        "/api/generate",
        "/api/generate",
        "llama3.2",
    )
    assert rec.status == 200 and rec.streamed is stream and rec.completed
    assert not rec.disconnected and rec.error is None and rec.mode == "full"
    assert rec.request == body
    assert rec.prompt_text == "Be brief\nWhy is the sky blue?"
    assert rec.answer_text == expected_text(8) and rec.answer == {
        "text": expected_text(8)
    }
    assert rec.done_reason == "stop"
    # the fake counts words: 5 in prompt + 2 in system; 8 generated tokens
    assert (rec.prompt_tokens, rec.completion_tokens, rec.total_tokens) == (7, 8, 15)
    assert rec.stats["eval_duration"] == 80_000_000
    assert rec.stats["load_duration"] == 1_234_567
    assert rec.ttfb_ms > 0 and rec.total_ms >= rec.ttfb_ms
    assert rec.user_agent == "t/1" and rec.client_addr == "127.0.0.1"
    assert rec.backend.startswith("127.0.0.1:")  # a bare URL is named host:port


@pytest.mark.parametrize("stream", [True, False])
def test_chat_record_with_thinking_is_exact(app, client, key, stream):
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hello there"},
    ]
    body = {
        "model": "qwen2.5:7b",
        "messages": messages,
        "think": True,
        "stream": stream,
        "options": {"num_predict": 3},
    }
    assert post(client, "/api/chat", body, key).status_code == 200
    rec = one(app)
    assert rec.request == body and rec.model == "qwen2.5:7b"
    assert rec.prompt_text == "You are terse.\nHello there"
    assert rec.answer == {
        "text": expected_text(3),
        "thinking": "Let me think about this carefully",
    }
    assert rec.done_reason == "length" and rec.streamed is stream
    assert (rec.prompt_tokens, rec.completion_tokens) == (5, 3)


def test_embed_record(app, client, key):
    body = {"model": "nomic-embed-text", "input": ["first text", "second"]}
    assert post(client, "/api/embed", body, key).status_code == 200
    rec = one(app)
    assert rec.endpoint == "/api/embed" and rec.request == body
    assert rec.prompt_text == "first text\nsecond" and rec.answer is None
    assert (
        rec.answer_text == "" and rec.prompt_tokens == 3 and rec.completion_tokens == 0
    )
    assert rec.stats["embeddings"] == 2 and rec.stats["total_duration"] == 14_143_917


@pytest.mark.parametrize("stream", [True, False])
def test_v1_chat_record(app, client, key, stream):
    body = {
        "model": "llama3.2",
        "stream": stream,
        "max_tokens": 4,
        "messages": [{"role": "user", "content": "Say hi to me"}],
    }
    if stream:
        body["stream_options"] = {"include_usage": True}
    resp = post(client, "/v1/chat/completions", body, key)
    assert resp.status_code == 200
    rec = one(app)
    assert rec.endpoint == "/v1/chat/completions" and rec.streamed is stream
    assert rec.answer_text == expected_text(4) and rec.done_reason == "length"
    assert (rec.prompt_tokens, rec.completion_tokens, rec.total_tokens) == (4, 4, 8)
    assert rec.prompt_text == "Say hi to me"


@pytest.mark.parametrize("stream", [True, False])
def test_v1_responses_record(app, client, key, stream):
    body = {
        "model": "llama3.2",
        "input": "Tell me a story",
        "stream": stream,
        "max_output_tokens": 5,
    }
    assert post(client, "/v1/responses", body, key).status_code == 200
    rec = one(app)
    assert rec.answer_text == expected_text(5)
    assert (rec.prompt_tokens, rec.completion_tokens) == (4, 5)
    assert rec.done_reason == "incomplete"


def test_images_replaced_by_size_and_hash(app, client, key):
    png = bytes(range(256)) * 40
    b64 = base64.b64encode(png).decode()
    digest = hashlib.sha256(png).hexdigest()
    body = {
        "model": "llama3.2",
        "stream": False,
        "messages": [{"role": "user", "content": "What is this?", "images": [b64]}],
    }
    post(client, "/api/chat", body, key)
    v1 = {
        "model": "llama3.2",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "And this?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": f"data:image/png;base64,{b64}"},
                    },
                ],
            }
        ],
    }
    post(client, "/v1/chat/completions", v1, key)
    native, openai_style = records(app)
    stub = {"image": True, "bytes": len(png), "sha256": digest}
    assert native.request["messages"][0]["images"] == [stub]
    assert openai_style.request["messages"][0]["content"][1]["image_url"]["url"] == stub
    assert openai_style.prompt_text == "And this?"
    assert b64[:40] not in json.dumps(native.request) + json.dumps(openai_style.request)


def test_upstream_error_status_is_recorded(app, client, key):
    resp = post(client, "/api/generate", {"model": "nope", "prompt": "x"}, key)
    assert resp.status_code == 404
    rec = one(app)
    assert (
        rec.status == 404 and rec.error == "model 'nope' not found" and rec.is_error()
    )


def test_error_mid_stream_is_recorded_with_partial_answer(app, client, fake, key):
    fake.error_mid_stream = (3, "out of memory")
    post(client, "/api/generate", {"model": "llama3.2", "prompt": "hi"}, key)
    rec = one(app)
    assert rec.status == 200 and rec.error == "out of memory"
    assert rec.answer_text == "".join(WORDS[:1] + [" " + w for w in WORDS[1:3]])


def test_upstream_failure_mid_stream_is_recorded(app, client, fake, key):
    fake.fail_mid_stream_after = 2
    post(
        client,
        "/api/chat",
        {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}]},
        key,
    )
    rec = one(app)
    assert rec.error.startswith("upstream stream failed") and not rec.completed
    assert rec.answer_text == "The quick"


def test_refused_call_is_recorded(tmp_path, fake):
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'g.db'}",
            "BACKENDS": [fake.url],
            "MAX_BODY_MB": 0.001,
            "KEY_CACHE_SECONDS": 0.0,
        }
    )
    with app.app_context():
        db.create_all()
    key = add_key(app)
    resp = app.test_client().post(
        "/api/generate",
        json={"model": "llama3.2", "prompt": "x" * 5000},
        headers=auth(key),
    )
    assert resp.status_code == 413
    rec = one(app)
    assert rec.status == 413 and "larger than" in rec.error and rec.ttfb_ms is None


def _set_mode(app, key, mode):
    with app.app_context():
        row = db.session.execute(
            select(ApiKey).where(ApiKey.prefix == key[:11])
        ).scalar_one()
        row.history_mode = mode
        db.session.commit()


def test_metadata_mode_stores_no_text(app, client, key):
    _set_mode(app, key, "metadata")
    secret = "my secret diary entry"
    body = {
        "model": "llama3.2",
        "messages": [{"role": "user", "content": secret}],
        "options": {"num_predict": 2},
        "stream": True,
    }
    post(client, "/api/chat", body, key)
    post(
        client,
        "/api/generate",
        {"model": "llama3.2", "prompt": secret, "system": secret, "stream": False},
        key,
    )
    for rec in records(app):
        stored = json.dumps(rec.to_dict())
        assert "secret" not in stored and "quick" not in stored.lower()
        assert rec.mode == "metadata" and rec.prompt_text == rec.answer_text == ""
        assert (
            rec.answer is None and rec.prompt_tokens > 0 and rec.completion_tokens > 0
        )
    assert records(app)[0].request == {
        "model": "llama3.2",
        "options": {"num_predict": 2},
        "stream": True,
    }


def test_off_mode_stores_nothing(app, client, key):
    other = add_key(app, "bob")
    _set_mode(app, key, "off")
    post(client, "/api/generate", {"model": "llama3.2", "prompt": "hi"}, key)
    post(client, "/api/generate", {"model": "llama3.2", "prompt": "hi"}, other)
    assert [r.user_name for r in records(app)] == ["bob"]


def test_global_off_and_key_override(tmp_path, fake):
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'g.db'}",
            "BACKENDS": [fake.url],
            "HISTORY_MODE": "off",
            "KEY_CACHE_SECONDS": 0.0,
        }
    )
    with app.app_context():
        db.create_all()
    quiet, loud = add_key(app, "quiet"), add_key(app, "loud")
    _set_mode(app, loud, "full")
    client = app.test_client()
    for k in (quiet, loud):
        post(client, "/api/generate", {"model": "llama3.2", "prompt": "hi"}, k)
    assert [r.user_name for r in records(app)] == ["loud"]


def test_ids_are_sortable_ulids():
    from datetime import datetime

    a = new_id(datetime(2026, 1, 1, 0, 0, 0))
    b = new_id(datetime(2026, 1, 1, 0, 0, 1))
    assert len(a) == 26 and a < b and a != new_id(datetime(2026, 1, 1))


@pytest.mark.needs_postgres
def test_records_on_postgresql(postgres_url, fake):
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": postgres_url,
            "BACKENDS": [fake.url],
            "KEY_CACHE_SECONDS": 0.0,
        }
    )
    with app.app_context():
        db.create_all()
    key = add_key(app)
    client = app.test_client()
    post(
        client,
        "/api/chat",
        {
            "model": "llama3.2",
            "stream": True,
            "messages": [
                {"role": "user", "content": "Hello <b>PostgreSQL</b> ünïcode"}
            ],
        },
        key,
    )
    post(client, "/api/embed", {"model": "nomic-embed-text", "input": "x"}, key)
    chat, embed = records(app)
    assert chat.answer_text == expected_text(8) and chat.prompt_tokens == 3
    assert chat.request["messages"][0]["content"] == "Hello <b>PostgreSQL</b> ünïcode"
    assert embed.stats["embeddings"] == 1
    with app.app_context():
        from ollama_gate.history.query import Filters

        found = db.session.execute(Filters(q="ÜNÏCODE").apply(select(Request.id))).all()
        # lower() of non-ASCII differs by database; ASCII search must work everywhere
        found_ascii = db.session.execute(
            Filters(q="postgresql").apply(select(Request.id))
        ).all()
        assert len(found_ascii) == 1 and len(found) <= 1
        db.engine.dispose()


def test_a_briefly_failing_database_loses_no_record(app, client, key, monkeypatch):
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.orm import Session

    real_execute, failures = Session.execute, []

    def flaky_execute(self, statement, *args, **kwargs):
        table = getattr(statement, "table", None)
        if getattr(table, "name", "") == "history_requests" and not failures:
            failures.append(1)
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return real_execute(self, statement, *args, **kwargs)

    monkeypatch.setattr(Session, "execute", flaky_execute)
    monkeypatch.setattr("ollama_gate.history.record.time.sleep", lambda s: None)
    post(client, "/api/generate", {"model": "llama3.2", "prompt": "hi"}, key)
    post(client, "/api/generate", {"model": "llama3.2", "prompt": "again"}, key)
    assert sorted(r.prompt_text for r in records(app)) == ["again", "hi"]
    assert failures == [1]


@pytest.mark.needs_postgres
def test_nul_characters_and_refused_rows_lose_nothing_on_postgresql(postgres_url, fake):
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": postgres_url,
            "BACKENDS": [fake.url],
            "KEY_CACHE_SECONDS": 0.0,
        }
    )
    with app.app_context():
        db.create_all()
    key = add_key(app)
    client = app.test_client()
    post(client, "/api/generate", {"model": "llama3.2", "prompt": "nul \x00 here"}, key)
    post(client, "/api/generate", {"model": "llama3.2\x00", "prompt": "odd model"}, key)
    post(client, "/api/generate", {"model": "llama3.2", "prompt": "plain"}, key)
    post(client, "/api/generate", {"model": "\udc80", "prompt": "lone \ud800"}, key)
    rows = records(app)
    assert sorted(r.prompt_text for r in rows) == [
        "lone \ufffd",
        "nul \ufffd here",
        "odd model",
        "plain",
    ]
    with app.app_context():
        db.engine.dispose()


def test_one_refused_row_does_not_lose_its_batch(app):
    from ollama_gate.history.record import HistoryStage

    good = {"id": new_id(), "started_at": utcnow(), "user_name": "a"}
    clash = dict(good, user_name="duplicate id")  # refused: the primary key exists
    other = {"id": new_id(), "started_at": utcnow(), "user_name": "b"}
    with app.app_context():
        HistoryStage().write([good])
        HistoryStage().write([clash, other])
    assert sorted(r.user_name for r in records(app)) == ["a", "b"]


# raw JSON texts: "\ud800" is a lone surrogate once parsed, which no database can
# store as text (UnicodeEncodeError, not a database error: it lost the whole batch)
ODD_BODIES = [
    rb'{"model": "\ud800", "prompt": "lone surrogate model"}',
    rb'{"model": "llama3.2", "prompt": "a \udfff b", "stream": false}',
    rb'{"model": "llama3.2", "messages": [{"role": "user", "content": "\ud83d"}]}',
    rb'{"model": "llama3.2", "prompt": "odd key", "\ud800": 1, "stream": false}',
    rb'{"model": "llama3.2", "prompt": "stop", "options": {"stop": ["\ud800\u0000"]}}',
]


@pytest.mark.parametrize("raw", ODD_BODIES)
def test_unstorable_text_loses_neither_its_record_nor_the_batch(app, client, key, raw):
    headers = auth(key) | {"Content-Type": "application/json"}
    for path, body in (("/api/generate", raw), ("/api/chat", raw)):
        client.post(path, data=body, headers=headers).get_data()
    post(client, "/api/generate", {"model": "llama3.2", "prompt": "plain"}, key)
    rows = records(app)
    assert len(rows) == 3 and rows[-1].prompt_text == "plain"
    for row in rows:  # stored text is valid UTF-8: U+FFFD where a surrogate was
        for value in (row.model, row.prompt_text, row.answer_text, row.error):
            assert value is None or isinstance(value.encode("utf-8"), bytes)


@pytest.mark.parametrize("lead", [b" ", b"\n", b"\r\n\t "])
def test_leading_whitespace_does_not_hide_a_prompt(app, client, key, lead):
    """A body Ollama reads (JSON after whitespace) is recorded with its prompt."""
    raw = lead + b'{"model": "llama3.2", "prompt": "hidden?", "stream": false}'
    headers = auth(key) | {"Content-Type": "application/json"}
    assert client.post("/api/generate", data=raw, headers=headers).status_code == 200
    row = one(app)
    assert row.model == "llama3.2" and row.prompt_text == "hidden?"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"model": "llama3.2", "prompt": "hidden \xff?", "stream": false}',
        b'{"model": "llama3.2", "prompt": "hidden?", "stream": false} trailing',
        b'{"model": "llama3.2", "prompt": "hidden?", "stream": false}{"x": 1}',
    ],
)
def test_bodies_go_accepts_are_recorded(app, client, key, raw):
    """What Ollama's Go decoder accepts is recorded with its model and prompt."""
    headers = auth(key) | {"Content-Type": "application/json"}
    client.post("/api/generate", data=raw, headers=headers).get_data()
    row = one(app)
    assert row.model == "llama3.2" and row.prompt_text.startswith("hidden")


def test_recorded_model_is_the_one_ollama_runs(app, client, key):
    """{"model": a, "MODEL": b}: Ollama runs b, and the record must say b."""
    raw = b'{"model": "llama3.2", "MODEL": "qwen2.5:7b", "prompt": "hi"}'
    headers = auth(key) | {"Content-Type": "application/json"}
    client.post("/api/generate", data=raw, headers=headers).get_data()
    assert one(app).model == "qwen2.5:7b"


# (endpoint, body in this order, what the model ran, the decoys it never saw)
SPELLINGS = {
    "chat": (
        "/api/chat",
        [
            ("model", "llama3.2"),
            ("messages", [{"role": "user", "content": "decoy question"}]),
            (
                "MESSAGES",
                [
                    {
                        "role": "user",
                        "content": "decoy inner",
                        "Content": "real question",
                    }
                ],
            ),
        ],
        ["real question"],
        ["decoy question", "decoy inner"],
    ),
    "generate": (
        "/api/generate",
        [
            ("model", "llama3.2"),
            ("prompt", "decoy prompt"),
            ("system", "decoy system"),
            ("\u017fystem", "real system"),  # long s: Go's "system"
            ("PROMPT", "real prompt"),
            ("suffix", "decoy suffix"),
            ("Suffix", "real suffix"),
            ("sy\ufb06em", "never read"),  # a ligature: no field to Go
        ],
        ["real system", "real prompt", "real suffix"],
        ["decoy prompt", "decoy system", "decoy suffix", "never read"],
    ),
}


@pytest.mark.parametrize("case", SPELLINGS)
def test_history_shows_the_spelling_the_model_ran(app, client, key, case):
    """Go's decoder runs the last spelling of a field (``MESSAGES`` after
    ``messages``, ``Content`` after ``content``): the record's prompt, search, the
    API's list and the conversation show that, never the decoy before it."""
    from ollama_gate.history.conversation import conversation

    path, pairs, ran, decoys = SPELLINGS[case]
    raw = json.dumps(dict(pairs + [("stream", False)])).encode()
    headers = {**auth(key), "Content-Type": "application/json"}
    resp = client.post(path, data=raw, headers=headers)
    assert resp.status_code == 200, resp.get_data()
    rec = one(app)
    assert rec.prompt_text == "\n".join(ran)
    listed = client.get("/gate/api/history", headers=auth(key)).get_json()["data"]
    assert [item["prompt"] for item in listed] == ["\n".join(ran)]
    for text in ran:
        found = client.get(f"/gate/api/history?q={text}", headers=auth(key))
        assert len(found.get_json()["data"]) == 1
    for text in decoys:
        found = client.get(f"/gate/api/history?q={text}", headers=auth(key))
        assert found.get_json()["data"] == []
    shown = [turn["text"] for turn in conversation(rec) if turn["role"] != "assistant"]
    assert shown == ran


@pytest.mark.needs_postgres
def test_long_client_address_and_endpoint_are_recorded_on_postgresql(
    postgres_url, fake
):
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": postgres_url,
            "BACKENDS": [fake.url],
            "KEY_CACHE_SECONDS": 0.0,
        }
    )
    with app.app_context():
        db.create_all()
    key = add_key(app)
    client = app.test_client()
    far = "fe80::1%" + "a" * 92  # 100 characters: an address with a long zone id
    client.environ_base["REMOTE_ADDR"] = far
    post(client, "/api/generate", {"model": "llama3.2", "prompt": "far"}, key)
    long_path = "/api/" + "x" * 600
    post(client, long_path, {"model": "llama3.2"}, key)
    rows = records(app)
    assert len(rows) == 2
    assert {r.client_addr for r in rows} == {far[:64]}
    unknown = next(r for r in rows if r.endpoint != "/api/generate")
    assert long_path.startswith(unknown.endpoint) and len(unknown.endpoint) == 200
    assert long_path.startswith(unknown.path)
    with app.app_context():
        db.engine.dispose()
