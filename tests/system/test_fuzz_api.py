"""Hostile input on every API path, generated (Hypothesis) and from a table: always
a clear error in the API family's shape, never a 5xx of the gateway's own, never a
request that reaches anything but the configured backend's API (issue 16)."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ollama_gate.extensions import db
from ollama_gate.history.models import Request
from tests.helpers.keys import add_key

ENDPOINTS = [
    "/api/generate",
    "/api/chat",
    "/api/embed",
    "/api/embeddings",
    "/api/show",
    "/api/pull",
    "/api/copy",
    "/api/delete",
    "/api/tags",
    "/api/ps",
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
    "/v1/responses",
    "/v1/models",
    "/v1/messages",
]
FUZZ = settings(
    max_examples=int(os.environ.get("OLLAMA_GATE_FUZZ_EXAMPLES", "120")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(
            st.sampled_from(["model", "prompt", "messages", "stream", "options", "x"])
            | st.text(max_size=10),
            inner,
            max_size=5,
        )
    ),
    max_leaves=25,
)
bodies = st.one_of(
    st.binary(max_size=300),  # anything at all, invalid UTF-8 included
    json_values.map(lambda v: json.dumps(v).encode()),
    json_values.map(lambda v: json.dumps(v).encode()[:-1]),  # truncated JSON
    st.builds(
        lambda depth, model: (
            b'{"model":%s,"x":' % json.dumps(model).encode()
            + b"[" * depth
            + b"]" * depth
            + b"}"
        ),
        st.integers(1, 3000),
        st.sampled_from(["llama3.2", 5, None, "x" * 300]),
    ),
)
content_types = st.sampled_from(
    ["application/json", "text/plain", "", "application/x-www-form-urlencoded"]
)


def check_shape(path: str, resp, upstream_answered: bool = False) -> None:
    """A refusal is JSON in the API family's shape; the gateway never fails itself.

    What the upstream answered (Ollama's own "405 method not allowed" is plain text)
    is passed as it came."""
    assert resp.status_code < 500, (resp.status_code, resp.get_data()[:300])
    if resp.status_code >= 400 and not upstream_answered:
        err = resp.get_json(silent=True)
        assert isinstance(err, dict) and "error" in err, resp.get_data()[:300]
        if path == "/v1/messages":  # Anthropic's shape
            assert err["type"] == "error" and err["error"]["type"]
            assert isinstance(err["error"], dict) and err["error"]["message"]
        elif path.startswith("/v1/"):
            assert isinstance(err["error"], dict) and err["error"]["message"]
        else:
            assert isinstance(err["error"], str) and err["error"]


@pytest.fixture()
def fuzz_key(app):
    return add_key(app, "fuzzer")


@FUZZ
@given(
    path=st.sampled_from(ENDPOINTS),
    body=bodies,
    content_type=content_types,
    method=st.sampled_from(["POST", "POST", "GET", "PUT", "DELETE"]),
)
def test_any_body_on_any_endpoint_gets_a_clear_answer(
    app, client, fake, fuzz_key, path, body, content_type, method
):
    headers = {"Authorization": f"Bearer {fuzz_key}"}
    if content_type:
        headers["Content-Type"] = content_type
    before = len(fake.requests)
    resp = client.open(path, method=method, data=body, headers=headers)
    resp.get_data()
    check_shape(path, resp, upstream_answered=len(fake.requests) > before)
    for seen in fake.requests:  # nothing reached the backend outside its API
        assert seen["path"] == "/" or seen["path"].startswith(("/api/", "/v1/"))


def test_every_fuzzed_call_is_recorded(app, client, fake, fuzz_key):
    """A fixed sample of hostile bodies: each call leaves exactly one record."""
    samples = [
        b"",
        b"{",
        b"\xff\xfe{}",
        b'{"model": "llama3.2", "prompt": 1e999}',
        b'{"model": ["llama3.2"]}',
        b'{"model": "llama3.2", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"model": "llama3.2", "n": ' + b"9" * 6000 + b"}",
        b"null",
        b'"just a string"',
        b'{"model": "llama3.2", "messages": {"role": "user"}}',
    ]
    headers = {
        "Authorization": f"Bearer {fuzz_key}",
        "Content-Type": "application/json",
    }
    for body in samples:
        before = len(fake.requests)
        resp = client.post("/api/chat", data=body, headers=headers)
        resp.get_data()
        check_shape("/api/chat", resp, len(fake.requests) > before)
    app.extensions["ollama_gate"].recorder.flush()
    with app.app_context():
        rows = db.session.execute(db.select(Request.status)).scalars().all()
    assert len(rows) == len(samples)


@pytest.mark.parametrize(
    "path",
    [
        "/api/../admin/",
        "/api/%2e%2e/admin/",
        "/api/tags/../pull",
        "/v1/./models",
        "/api//generate",
        "/api/generate%00",
        "/api/" + "a" * 5000,
    ],
)
def test_path_tricks_never_reach_an_admin_page_or_crash(
    app, client, fake, fuzz_key, path
):
    resp = client.post(path, headers={"Authorization": f"Bearer {fuzz_key}"}, json={})
    resp.get_data()
    assert resp.status_code < 500
    assert b"<form" not in resp.get_data()  # no admin page behind a trick
    for seen in fake.requests:
        assert ".." not in seen["path"].split("?")[0].split("/")


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Length": "99999999999999999999"},
        {"Content-Length": "-1"},
        {"Content-Type": "application/json; charset=utf-16"},
        {"Authorization": "Bearer " + "x" * 9000},
        {"Authorization": "Bearer og_\u00e9\u00e9"},
        {"X-Api-Key": "og_nope"},
    ],
)
def test_odd_headers_get_a_clear_answer(app, client, fake, fuzz_key, headers):
    base = {"Authorization": f"Bearer {fuzz_key}"}
    before = len(fake.requests)
    resp = client.post("/api/generate", headers={**base, **headers}, data=b"{}")
    resp.get_data()
    check_shape("/api/generate", resp, len(fake.requests) > before)
