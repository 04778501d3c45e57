"""Errors on the API: upstream down or slow, bad client input; never a 500 for client
input."""

from __future__ import annotations

import json

import pytest

from ollama_gate import create_app
from ollama_gate.extensions import db
from tests.helpers.keys import add_key
from tests.helpers.services import free_port


def make_app(tmp_path, **settings):
    """An app with its own database and the given settings."""
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "t",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'e.db'}",
            "KEY_CACHE_SECONDS": 0.0,
            **settings,
        }
    )
    with app.app_context():
        db.create_all()
    return app


@pytest.mark.parametrize(
    "path, shape", [("/api/tags", "native"), ("/v1/models", "openai")]
)
def test_upstream_unreachable_is_502(tmp_path, path, shape):
    app = make_app(tmp_path, BACKENDS=[f"http://127.0.0.1:{free_port()}"])
    key = add_key(app)
    resp = app.test_client().get(path, headers={"X-API-Key": key})
    assert resp.status_code == 502
    err = resp.get_json()["error"]
    message = err if shape == "native" else err["message"]
    assert "unreachable" in message


def test_upstream_timeout_is_504(tmp_path, fake):
    fake.response_delay = 2
    app = make_app(tmp_path, BACKENDS=[fake.url], READ_TIMEOUT=0.3)
    key = add_key(app)
    resp = app.test_client().post(
        "/api/generate",
        json={"model": "llama3.2", "prompt": "x"},
        headers={"X-API-Key": key},
    )
    assert resp.status_code == 504
    assert "timed out" in resp.get_json()["error"]


def test_body_too_large_is_413(tmp_path, fake):
    app = make_app(tmp_path, BACKENDS=[fake.url], MAX_BODY_MB=0.001)
    key = add_key(app)
    resp = app.test_client().post(
        "/api/chat",
        data=b"{" + b" " * 2000 + b"}",
        headers={"X-API-Key": key, "Content-Type": "application/json"},
    )
    assert resp.status_code == 413
    assert "larger than" in resp.get_json()["error"]
    assert fake.calls() == []


@pytest.mark.parametrize(
    "body, status, message",
    [
        (b"", 400, "missing request body"),
        (b"{not json", 400, "invalid character"),
        (b'{"model": 5}', 400, ""),
        (b"[1, 2]", 400, "cannot unmarshal"),
    ],
)
def test_bad_bodies_get_ollamas_own_answer(client, fake, key, body, status, message):
    resp = client.post(
        "/api/chat",
        data=body,
        headers={"X-API-Key": key, "Content-Type": "application/json"},
    )
    assert resp.status_code == status
    assert message in resp.get_json()["error"]


def test_upstream_error_status_passes_through(client, fake, key):
    fake.next_status = (
        503,
        {"error": "server busy, please try again.  maximum pending requests exceeded"},
    )
    resp = client.post(
        "/api/generate",
        json={"model": "llama3.2", "prompt": "x"},
        headers={"X-API-Key": key},
    )
    assert resp.status_code == 503 and "server busy" in resp.get_json()["error"]


def test_error_mid_stream_from_upstream_is_relayed(client, fake, key):
    fake.error_mid_stream = (2, "model runner crashed")
    resp = client.post(
        "/api/generate",
        json={"model": "llama3.2", "prompt": "x"},
        headers={"X-API-Key": key},
    )
    lines = [json.loads(x) for x in resp.data.splitlines()]
    assert len(lines) == 3 and lines[-1] == {"error": "model runner crashed"}


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/api/generate"),
        ("PUT", "/api/tags"),
        ("POST", "/api/unknown/thing"),
        ("GET", "/v1"),
        ("GET", "/api"),
    ],
)
def test_odd_methods_and_paths_never_500(client, fake, key, method, path):
    resp = client.open(path, method=method, headers={"X-API-Key": key})
    assert resp.status_code in (404, 405)


def test_non_api_path_is_404(client):
    assert client.get("/nothing-here").status_code == 404


def _history(app) -> list:
    from ollama_gate.history.models import Request

    app.extensions["ollama_gate"].recorder.flush()
    with app.app_context():
        return db.session.execute(db.select(Request.status, Request.endpoint)).all()


@pytest.mark.parametrize("stream", [False, True])
def test_failing_release_step_loses_neither_answer_nor_record(
    app, client, fake, key, stream
):
    """A release step that fails (limit storage gone) must not turn a 200 into a 500."""

    def broken(call):
        raise ConnectionError("limit storage unreachable")

    app.extensions["ollama_gate"].pipeline._release.insert(0, broken)
    resp = client.post(
        "/api/generate",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "llama3.2", "prompt": "hi", "stream": stream},
    )
    body = resp.get_data()
    assert resp.status_code == 200 and b'"done":true' in body.replace(b" ", b"")
    assert _history(app) == [(200, "/api/generate")]


def test_one_odd_answer_does_not_cost_the_batch_its_statistics(app):
    """summarise fails on an answer of odd types; the other calls keep their tokens."""
    from ollama_gate.call import Call
    from ollama_gate.keys import Identity
    from ollama_gate.proxy.stages import Summary

    ident = Identity(
        key_id=1,
        user_id=1,
        user_name="a",
        key_prefix="og_",
        key_name="",
        state="active",
        expires_at=None,
    )
    odd, good = (
        Call(identity=ident, method="POST", path=p, upstream_path=p, endpoint=p)
        for p in ("/v1/chat/completions", "/api/generate")
    )
    odd.keep(b'{"choices": [1], "usage": {"prompt_tokens": "many"}}')
    good.keep(
        b'{"response": "x", "done": true, "prompt_eval_count": 3, "eval_count": 4}\n'
    )
    Summary().record([odd, good])
    assert good.stats["total_tokens"] == 7
    assert odd.stats.get("total_tokens", 0) == 0


DEEP = b'{"model": "llama3.2", "a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


@pytest.mark.parametrize("path", ["/api/chat", "/v1/chat/completions", "/api/show"])
def test_deeply_nested_json_is_not_a_500(app, client, fake, key, path):
    """A body nested deeper than Python's JSON parser goes is the upstream's to
    judge."""
    resp = client.post(
        path,
        data=DEEP,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    assert resp.status_code < 500, resp.get_data()[:200]
    assert [status for status, _ in _history(app)] == [resp.status_code]
