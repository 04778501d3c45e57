"""End to end through real gunicorn + gevent: official clients get what Ollama itself
gives."""

from __future__ import annotations

import hashlib
import json
import socket
from urllib.parse import urlsplit

import ollama
import openai
import pytest
import requests

VOLATILE = {
    "created_at",
    "expires_at",
    "created",
    "id",
    "total_duration",
    "load_duration",
    "prompt_eval_duration",
    "eval_duration",
}


def normal(value):
    """A client result with timestamps, ids and durations removed, for comparison."""
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    if isinstance(value, dict):
        return {k: normal(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [normal(v) for v in value]
    return value


@pytest.fixture()
def clients(gateway, fake):
    """(gateway client, direct client) pairs for both official libraries."""
    key = gateway.key(scopes="manage")  # pull, copy, delete and blobs need the scope
    return {
        "ollama": (
            ollama.Client(host=gateway.url, headers={"Authorization": f"Bearer {key}"}),
            ollama.Client(host=fake.url),
        ),
        "openai": (
            openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0),
            openai.OpenAI(base_url=fake.url + "/v1", api_key="direct", max_retries=0),
        ),
        "key": key,
    }


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.generate(model="llama3.2", prompt="Why is the sky blue?"),
        lambda c: list(c.generate(model="llama3.2", prompt="Hi", stream=True)),
        lambda c: c.chat(
            model="llama3.2", messages=[{"role": "user", "content": "Hi"}]
        ),
        lambda c: list(
            c.chat(
                model="qwen2.5:7b",
                messages=[{"role": "user", "content": "Hi"}],
                stream=True,
                options={"num_predict": 20},
            )
        ),
        lambda c: c.embed(model="nomic-embed-text", input=["a", "b"]),
        lambda c: c.embeddings(model="nomic-embed-text", prompt="a"),
        lambda c: c.list(),
        lambda c: c.show("llama3.2"),
        lambda c: c.ps(),
        lambda c: list(c.pull("llama3.2", stream=True)),
        lambda c: c.pull("llama3.2"),
    ],
    ids=[
        "generate",
        "generate-stream",
        "chat",
        "chat-stream",
        "embed",
        "embeddings",
        "list",
        "show",
        "ps",
        "pull-stream",
        "pull",
    ],
)
def test_ollama_client_same_as_direct(clients, call):
    through, direct = clients["ollama"]
    assert normal(call(through)) == normal(call(direct))


def test_ollama_client_errors_pass_through(clients):
    through, _ = clients["ollama"]
    with pytest.raises(ollama.ResponseError) as err:
        through.generate(model="no-such-model", prompt="x")
    assert err.value.status_code == 404 and "not found" in err.value.error


def test_ollama_client_copy_delete_and_blob(clients, fake, tmp_path):
    through, _ = clients["ollama"]
    through.copy("llama3.2", "my-copy")
    assert any(m.model == "my-copy" for m in through.list().models)
    through.delete("my-copy")
    assert not any(m.model == "my-copy" for m in through.list().models)
    blob = tmp_path / "weights.bin"
    blob.write_bytes(bytes(range(256)) * 8192)  # 2 MiB, streamed through in pieces
    digest = through.create_blob(blob)
    assert digest == "sha256:" + hashlib.sha256(blob.read_bytes()).hexdigest()
    upload = [
        r for r in fake.requests if r.method == "POST" and "/api/blobs/" in r.path
    ][-1]
    assert upload.body_size == blob.stat().st_size


def test_version_and_heartbeat(gateway, fake):
    assert requests.head(gateway.url + "/").status_code == 200
    resp = requests.get(
        gateway.url + "/api/version", headers={"X-API-Key": gateway.key()}
    )
    assert resp.json() == {"version": fake.version}


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.chat.completions.create(
            model="llama3.2", messages=[{"role": "user", "content": "Hi"}]
        ),
        lambda c: [
            ch.model_dump()
            for ch in c.chat.completions.create(
                model="llama3.2",
                messages=[{"role": "user", "content": "Hi"}],
                stream=True,
                stream_options={"include_usage": True},
            )
        ],
        lambda c: c.completions.create(model="llama3.2", prompt="Once"),
        lambda c: c.embeddings.create(model="nomic-embed-text", input=["a", "b"]),
        lambda c: c.models.list().data,
        lambda c: c.models.retrieve("llama3.2:latest"),
    ],
    ids=["chat", "chat-stream", "completions", "embeddings", "models", "model"],
)
def test_openai_client_same_as_direct(clients, call):
    through, direct = clients["openai"]
    assert normal(call(through)) == normal(call(direct))


def test_openai_model_id_keeps_encoded_slash(clients, fake):
    through, _ = clients["openai"]
    fake.add_model("myorg/coder:7b")
    model = through.models.retrieve("myorg/coder:7b")
    assert model.id == "myorg/coder:7b"
    assert fake.calls()[-1].path == "/v1/models/myorg%2Fcoder:7b"


def test_unknown_paths_pass_through_with_auth(gateway, fake):
    assert requests.post(gateway.url + "/v1/systemone").status_code == 401
    resp = requests.post(
        gateway.url + "/v1/systemone", headers={"X-API-Key": gateway.key()}
    )
    assert resp.status_code == 404 and resp.text == "404 page not found"
    assert fake.calls()[-1].path == "/v1/systemone"


def read_line(chunks) -> bytes:
    """Read one whole line from an iterator of HTTP chunks as they arrive."""
    line = b""
    while not line.endswith(b"\n"):
        line += next(chunks)
    return line


def test_stream_is_not_buffered(gateway, fake):
    """The upstream holds chunk 2 until the test has chunk 1 from the gateway."""
    fake.hold_second_chunk = True
    with requests.post(
        gateway.url + "/api/generate",
        stream=True,
        json={"model": "llama3.2", "prompt": "Hi"},
        headers={"X-API-Key": gateway.key()},
        timeout=20,
    ) as resp:
        assert resp.headers["Content-Type"] == "application/x-ndjson"
        chunks = resp.iter_content(chunk_size=None)
        first = json.loads(read_line(chunks))
        assert first["done"] is False and first["response"]
        assert (
            not fake.release.is_set()
        )  # chunk 1 arrived while the upstream held chunk 2
        fake.release.set()
        rest = [json.loads(line) for line in b"".join(chunks).splitlines() if line]
    assert rest[-1]["done"] is True and rest[-1]["eval_count"] == len(rest)


def test_sse_is_not_buffered(gateway, fake):
    fake.hold_second_chunk = True
    with requests.post(
        gateway.url + "/v1/chat/completions",
        stream=True,
        json={
            "model": "llama3.2",
            "stream": True,
            "messages": [{"role": "user", "content": "Hi"}],
        },
        headers={"Authorization": f"Bearer {gateway.key()}"},
        timeout=20,
    ) as r:
        assert r.headers["Content-Type"].startswith("text/event-stream")
        chunks = r.iter_content(chunk_size=None)
        first = read_line(chunks)
        assert first.startswith(b"data: {")
        fake.release.set()
        body = first + b"".join(chunks)
    assert body.rstrip().endswith(b"data: [DONE]")


def test_client_disconnect_closes_upstream(gateway, fake):
    fake.chunk_delay = 0.05
    key = gateway.key()
    addr = urlsplit(gateway.url)
    body = json.dumps(
        {"model": "llama3.2", "prompt": "long", "options": {"num_predict": 2000}}
    )
    sock = socket.create_connection((addr.hostname, addr.port))
    sock.sendall(
        (
            f"POST /api/generate HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            f"{body}"
        ).encode()
    )
    assert b'"done":false' in sock.recv(65536) or b'"done":false' in sock.recv(65536)
    sock.close()
    assert fake.disconnected.wait(15), "upstream connection was not closed"


def test_upstream_failure_mid_stream_ends_with_error_line(clients, fake):
    fake.fail_mid_stream_after = 2
    through, _ = clients["ollama"]
    with pytest.raises(ollama.ResponseError) as err:
        list(through.generate(model="llama3.2", prompt="Hi", stream=True))
    assert "upstream stream failed" in err.value.error


def test_upstream_failure_mid_sse_reaches_openai_client(clients, fake):
    fake.fail_mid_stream_after = 2
    through, _ = clients["openai"]
    with pytest.raises(openai.APIError):
        list(
            through.chat.completions.create(
                model="llama3.2",
                messages=[{"role": "user", "content": "Hi"}],
                stream=True,
            )
        )


def test_blob_head_and_raw_post(gateway, fake):
    key = gateway.key(scopes="manage")
    data = b"x" * 100_000
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    url = f"{gateway.url}/api/blobs/{digest}"
    assert requests.head(url, headers={"X-API-Key": key}).status_code == 404
    chunked = requests.post(
        url, data=iter([data[:50_000], data[50_000:]]), headers={"X-API-Key": key}
    )
    assert chunked.status_code == 201
    head = requests.head(url, headers={"X-API-Key": key})
    assert head.status_code == 200 and head.content == b""
    bad = requests.post(
        f"{gateway.url}/api/blobs/sha256:{'0' * 64}",
        data=data,
        headers={"X-API-Key": key},
    )
    assert bad.status_code == 400 and "mismatch" in bad.json()["error"]


def test_openai_responses_api(clients):
    through, direct = clients["openai"]
    got = through.responses.create(model="llama3.2", input="Hello")
    want = direct.responses.create(model="llama3.2", input="Hello")
    assert got.output_text == want.output_text and got.output_text
    events = [
        e.type
        for e in through.responses.create(model="llama3.2", input="Hi", stream=True)
    ]
    assert events[0] == "response.created" and events[-1] == "response.completed"


def test_absolute_form_target_cannot_pick_another_host(gateway, fake):
    """``GET http://elsewhere/...`` still goes to the configured backend, path only."""
    addr = urlsplit(gateway.url)
    with socket.create_connection((addr.hostname, addr.port)) as sock:
        sock.sendall(
            (
                f"GET http://169.254.169.254/api/tags?x=1 HTTP/1.1\r\nHost: evil\r\n"
                f"X-API-Key: {gateway.key()}\r\nConnection: close\r\n\r\n"
            ).encode()
        )
        reply = b""
        while piece := sock.recv(65536):
            reply += piece
    assert reply.startswith(b"HTTP/1.1 200")
    # among what reached the fake since the test began (another live gateway's
    # health check may come last)
    assert "/api/tags?x=1" in [r.path for r in fake.requests]
