"""Checks the fake Ollama server against the official ollama and openai clients."""

import base64
import hashlib
import json
import os
import socket
import struct
import time

import httpx
import ollama
import openai
import pytest
import requests

from tests.fakes.ollama import FakeOllama


@pytest.fixture(scope="module")
def _server():
    with FakeOllama() as f:
        yield f


@pytest.fixture
def fake(_server):
    _server.reset()
    yield _server
    _server.release.set()  # never leave a held stream behind
    _server.reset()


@pytest.fixture
def oc(fake):
    c = ollama.Client(host=fake.url)
    yield c
    c._client.close()


@pytest.fixture
def ai(fake):
    c = openai.OpenAI(base_url=fake.url + "/v1", api_key="x", max_retries=0)
    yield c
    c.close()


# ---------------------------------------------------------------- raw wire


def _raw_request(fake, method, path, body=None, extra=b""):
    s = socket.create_connection((fake.host, fake.port), timeout=5)
    data = _dumps(body) if body is not None else b""
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {fake.host}:{fake.port}\r\n"
        "Content-Type: application/json\r\n"
    )
    head += f"Content-Length: {len(data)}\r\n"
    s.sendall(head.encode() + extra + b"\r\n" + data)
    return s


def _dumps(o):
    return json.dumps(o).encode()


class _Reader:
    """Minimal HTTP/1.1 response reader exposing the chunk boundaries."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError
        self.buf += d

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln

    def exact(self, n):
        while len(self.buf) < n:
            self._fill()
        d, self.buf = self.buf[:n], self.buf[n:]
        return d

    def head(self):
        status = self.line()
        headers = {}
        while True:
            ln = self.line()
            if not ln:
                break
            k, v = ln.decode().split(":", 1)
            headers[k.strip().lower()] = v.strip()
        return int(status.split()[1]), headers

    def chunk(self):
        size = int(self.line(), 16)
        data = self.exact(size)
        assert self.exact(2) == b"\r\n"
        return data


def test_root_version_and_head(fake):
    r = requests.get(fake.url + "/")
    assert r.status_code == 200 and r.text == "Ollama is running"
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    r = requests.head(fake.url + "/")
    assert r.status_code == 200 and r.content == b""
    r = requests.get(fake.url + "/api/version")
    assert r.json() == {"version": "0.33.0"}
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert requests.head(fake.url + "/api/version").status_code == 200
    assert requests.head(fake.url + "/api/tags").status_code == 200


def test_unknown_path_and_method(fake):
    r = requests.get(fake.url + "/api/nope")
    assert r.status_code == 404 and r.text == "404 page not found"
    assert r.headers["content-type"].startswith("text/plain")
    r = requests.get(fake.url + "/api/generate")
    assert r.status_code == 405
    r = requests.head(fake.url + "/api/ps")
    assert r.status_code == 405


def test_ndjson_chunk_framing_and_keepalive(fake):
    s = _raw_request(
        fake, "POST", "/api/generate?x=1", {"model": "llama3.2", "prompt": "hi"}
    )
    rd = _Reader(s)
    status, headers = rd.head()
    assert status == 200
    assert headers["content-type"] == "application/x-ndjson"
    assert headers["transfer-encoding"] == "chunked"
    assert "content-length" not in headers
    objs = []
    while True:
        c = rd.chunk()
        if not c:
            break
        assert c.endswith(b"\n") and c.count(b"\n") == 1
        obj = json.loads(c)
        assert (
            c
            == json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
            + b"\n"
        )
        objs.append(obj)
    assert (
        len(objs) == 9
        and objs[-1]["done"] is True
        and objs[-1]["done_reason"] == "stop"
    )
    assert objs[-1]["eval_count"] == 8 and "context" in objs[-1]
    # keep-alive: same socket serves another request
    s.sendall(b"GET /api/version HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers = rd.head()
    assert status == 200 and json.loads(rd.exact(int(headers["content-length"]))) == {
        "version": "0.33.0"
    }
    s.close()
    assert fake.requests[0].path == "/api/generate?x=1"
    assert fake.requests[0].json["prompt"] == "hi"
    assert fake.requests[0].headers["content-type"] == "application/json"


def test_sse_framing(fake):
    r = requests.post(
        fake.url + "/v1/chat/completions",
        json={
            "model": "llama3.2",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": 3,
        },
    )
    assert r.headers["content-type"] == "text/event-stream"
    events = r.text.split("\n\n")
    assert events[-1] == "" and events[-2] == "data: [DONE]"
    chunks = [json.loads(e[len("data: ") :]) for e in events[:-2]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "The"}
    assert chunks[-2]["choices"][0] == {
        "index": 0,
        "delta": {},
        "finish_reason": "length",
    }
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 3
    assert all("usage" not in c for c in chunks[:-1])


# ---------------------------------------------------------------- ollama client


def test_ollama_generate(fake, oc):
    r = oc.generate(model="llama3.2", prompt="hello world")
    assert r.response == FakeOllama.expected_text(8)
    assert r.done and r.done_reason == "stop" and r.eval_count == 8
    assert r.model == "llama3.2" and r.context
    assert isinstance(r.total_duration, int) and r.total_duration > 0
    rec = fake.requests[-1]
    assert rec.json["stream"] is False
    assert rec.headers["user-agent"].startswith("ollama-python/")

    parts = list(
        oc.generate(
            model="LLAMA3.2:latest",
            prompt="hi",
            stream=True,
            options={"num_predict": 5},
        )
    )
    assert len(parts) == 6
    assert "".join(p.response for p in parts) == FakeOllama.expected_text(5)
    assert parts[0].model == "LLAMA3.2:latest" and not parts[0].done
    assert parts[-1].done_reason == "length" and parts[-1].eval_count == 5

    load = oc.generate(model="llama3.2", prompt="")
    assert load.done and load.done_reason == "load" and load.response == ""


def test_ollama_chat(fake, oc):
    msgs = [{"role": "user", "content": "why is the sky blue"}]
    r = oc.chat(model="qwen2.5:7b", messages=msgs)
    assert (
        r.message.role == "assistant"
        and r.message.content == FakeOllama.expected_text(8)
    )
    assert r.prompt_eval_count == 5
    parts = list(oc.chat(model="qwen2.5:7b", messages=msgs, stream=True, think=True))
    assert "".join(p.message.thinking or "" for p in parts).startswith("Let me")
    assert "".join(p.message.content for p in parts) == FakeOllama.expected_text(8)
    assert parts[-1].done and parts[-1].done_reason == "stop"
    with pytest.raises(ollama.ResponseError) as ei:
        oc.chat(model="llama3.2", messages=msgs, think=True)
    assert ei.value.status_code == 400 and "does not support thinking" in ei.value.error
    load = oc.chat(model="llama3.2", messages=[])
    assert load.done_reason == "load"


def test_ollama_unknown_model_and_errors(fake, oc):
    with pytest.raises(ollama.ResponseError) as ei:
        oc.generate(model="nope:1b", prompt="x")
    assert ei.value.status_code == 404 and ei.value.error == "model 'nope:1b' not found"
    r = requests.post(
        fake.url + "/api/chat", json={"messages": [{"role": "user", "content": "x"}]}
    )
    assert r.status_code == 400 and r.json() == {"error": "model is required"}
    r = requests.post(fake.url + "/api/generate", json={"prompt": "x"})
    assert r.status_code == 404 and r.json() == {"error": "model '' not found"}
    r = requests.post(fake.url + "/api/chat")
    assert r.status_code == 400 and r.json() == {"error": "missing request body"}
    r = requests.post(
        fake.url + "/api/generate",
        data=b"xyz",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400
    assert r.json() == {"error": "invalid character 'x' looking for beginning of value"}
    r = requests.post(
        fake.url + "/api/embed", json={"model": "nomic-embed-text", "input": 5}
    )
    assert r.status_code == 400 and r.json() == {"error": "invalid input type"}
    with pytest.raises(ollama.ResponseError) as ei:
        oc.embed(model="ghost", input="x")
    assert ei.value.status_code == 404


def test_ollama_embed(fake, oc):
    r = oc.embed(model="nomic-embed-text", input=["a", "b"])
    assert len(r.embeddings) == 2 and len(r.embeddings[0]) == 8
    assert r.embeddings[0] == FakeOllama.embedding_for("a")
    assert r.embeddings[0] != r.embeddings[1]
    assert oc.embed(model="nomic-embed-text", input="a").embeddings[
        0
    ] == FakeOllama.embedding_for("a")
    legacy = oc.embeddings(model="nomic-embed-text", prompt="a")
    assert list(legacy.embedding) == FakeOllama.embedding_for("a")


def test_ollama_list_show_ps(fake, oc):
    names = [m.model for m in oc.list().models]
    assert names == ["llama3.2:latest", "qwen2.5:7b", "nomic-embed-text:latest"]
    raw = requests.get(fake.url + "/api/tags").json()["models"][0]
    assert set(raw) >= {
        "name",
        "model",
        "modified_at",
        "size",
        "digest",
        "details",
        "capabilities",
    }
    assert len(raw["digest"]) == 64
    show = oc.show("llama3.2")
    assert "completion" in show.capabilities and show.details.family == "llama"
    assert show.modelinfo["general.architecture"] == "llama"
    assert (
        requests.post(fake.url + "/api/show", json={"name": "qwen2.5:7b"}).status_code
        == 200
    )
    with pytest.raises(ollama.ResponseError) as ei:
        oc.show("missing")
    assert ei.value.status_code == 404
    ps = oc.ps()
    assert ps.models[0].name == "llama3.2:latest" and ps.models[0].size_vram > 0
    fake.models.append(dict(fake.models[0], name="extra:1b", model="extra:1b"))
    assert "extra:1b" in [m.model for m in oc.list().models]


def test_ollama_pull_push_create_copy_delete(fake, oc, tmp_path):
    prog = list(oc.pull("library/tinymodel:1b", stream=True))
    statuses = [p.status for p in prog]
    assert statuses[0] == "pulling manifest" and statuses[-1] == "success"
    assert "verifying sha256 digest" in statuses and "writing manifest" in statuses
    layer = [p for p in prog if p.status.startswith("pulling ") and p.digest]
    assert (
        layer[0].digest.startswith("sha256:")
        and layer[0].total
        and layer[0].completed is None
    )
    assert layer[0].status == "pulling " + layer[0].digest[7:19]
    assert any(p.completed == p.total for p in layer)
    assert oc.pull("tinymodel:1b").status == "success"
    assert fake.requests[-1].json["stream"] is False
    assert "tinymodel:1b" in [
        m.model for m in oc.list().models
    ] or "library/tinymodel:1b" in [m.model for m in oc.list().models]

    assert [p.status for p in oc.push("llama3.2", stream=True)][-1] == "success"

    assert oc.copy("llama3.2", "mycopy:latest").status == "success"
    assert (
        fake.requests[-1].body == b"" or fake.requests[-1].json["source"] == "llama3.2"
    )
    assert "mycopy:latest" in [m.model for m in oc.list().models]
    with pytest.raises(ollama.ResponseError) as ei:
        oc.copy("ghost", "x")
    assert ei.value.status_code == 404
    assert oc.delete("mycopy").status == "success"
    assert fake.requests[-1].method == "DELETE" and fake.requests[-1].json == {
        "model": "mycopy"
    }
    with pytest.raises(ollama.ResponseError) as ei:
        oc.delete("mycopy")
    assert ei.value.status_code == 404

    # blob upload (streamed, chunked by httpx) then create
    p = tmp_path / "w.gguf"
    data = os.urandom(300_000)
    p.write_bytes(data)
    digest = oc.create_blob(p)
    sha = hashlib.sha256(data).hexdigest()
    assert digest == "sha256:" + sha
    rec = fake.requests[-1]
    assert rec.body == b"" and rec.body_size == len(data) and rec.body_sha256 == sha
    assert requests.head(fake.url + "/api/blobs/" + digest).status_code == 200
    assert requests.head(fake.url + "/api/blobs/sha256:" + "0" * 64).status_code == 404
    bad = requests.post(fake.url + "/api/blobs/sha256:" + "1" * 64, data=b"hello")
    assert bad.status_code == 400 and bad.json() == {"error": "digest mismatch"}
    prog = list(oc.create(model="mine:1", files={"w.gguf": digest}, stream=True))
    assert prog[-1].status == "success"
    assert "mine:1" in [m.model for m in oc.list().models]


def test_chunked_blob_upload_keepalive(fake):
    data = b"x" * 200_000
    sha = hashlib.sha256(data).hexdigest()

    def gen():
        for i in range(0, len(data), 70_000):
            yield data[i : i + 70_000]

    with requests.Session() as s:
        r = s.post(f"{fake.url}/api/blobs/sha256:{sha}", data=gen())
        assert r.status_code == 201
        r = s.get(fake.url + "/api/version")
        assert r.status_code == 200
    rec = fake.requests[0]
    assert rec.headers.get("transfer-encoding") == "chunked" and rec.body_size == len(
        data
    )
    assert fake.requests[0].peer == fake.requests[1].peer  # same connection reused


# ---------------------------------------------------------------- openai client


def test_openai_chat(fake, ai):
    msgs = [{"role": "user", "content": "hello there"}]
    r = ai.chat.completions.create(model="llama3.2", messages=msgs)
    assert r.object == "chat.completion" and r.id.startswith("chatcmpl-")
    assert r.choices[0].message.content == FakeOllama.expected_text(8)
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.completion_tokens == 8 and r.usage.prompt_tokens == 2
    assert fake.requests[-1].headers["authorization"] == "Bearer x"

    chunks = list(
        ai.chat.completions.create(
            model="llama3.2",
            messages=msgs,
            stream=True,
            stream_options={"include_usage": True},
            max_tokens=4,
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == FakeOllama.expected_text(4)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 6

    with pytest.raises(openai.NotFoundError) as ei:
        ai.chat.completions.create(model="ghost", messages=msgs)
    assert ei.value.body["type"] == "not_found_error"
    with pytest.raises(openai.BadRequestError) as ei:
        ai.chat.completions.create(model="llama3.2", messages=[])
    assert "too short" in ei.value.body["message"]


def test_openai_completions(fake, ai):
    r = ai.completions.create(model="llama3.2", prompt="say hi", max_tokens=3)
    assert r.object == "text_completion" and r.choices[
        0
    ].text == FakeOllama.expected_text(3)
    assert r.choices[0].finish_reason == "length"
    chunks = list(ai.completions.create(model="llama3.2", prompt="say hi", stream=True))
    assert "".join(
        c.choices[0].text for c in chunks if c.choices
    ) == FakeOllama.expected_text(8)


def test_openai_embeddings(fake, ai):
    r = ai.embeddings.create(model="nomic-embed-text", input=["a", "b"])
    assert fake.requests[-1].json.get("encoding_format") == "base64"
    assert r.data[0].embedding == pytest.approx(FakeOllama.embedding_for("a"))
    assert r.data[1].index == 1
    r = ai.embeddings.create(
        model="nomic-embed-text", input="a", encoding_format="float"
    )
    assert r.data[0].embedding == FakeOllama.embedding_for("a")
    raw = requests.post(
        fake.url + "/v1/embeddings",
        json={"model": "nomic-embed-text", "input": "a", "encoding_format": "base64"},
    ).json()
    vec = list(struct.unpack("<8f", base64.b64decode(raw["data"][0]["embedding"])))
    assert vec == FakeOllama.embedding_for("a")
    bad = requests.post(
        fake.url + "/v1/embeddings",
        json={"model": "nomic-embed-text", "input": "a", "encoding_format": "hex"},
    )
    assert bad.status_code == 400
    assert set(bad.json()["error"]) == {"message", "type", "param", "code"}


def test_openai_models(fake, ai):
    ids = [m.id for m in ai.models.list()]
    assert ids == ["llama3.2:latest", "qwen2.5:7b", "nomic-embed-text:latest"]
    fake.add_model("ns/model:tag")
    m = ai.models.retrieve("ns/model:tag")
    assert m.id == "ns/model:tag" and m.owned_by == "ns"
    assert fake.requests[-1].path == "/v1/models/ns%2Fmodel:tag"
    with pytest.raises(openai.NotFoundError):
        ai.models.retrieve("ghost")
    assert requests.get(fake.url + "/v1/models/ns/model:tag").status_code == 404
    fake.models.clear()
    assert requests.get(fake.url + "/v1/models").json() == {
        "object": "list",
        "data": None,
    }


def test_openai_responses(fake, ai):
    r = ai.responses.create(model="llama3.2", input="hello")
    assert r.output_text == FakeOllama.expected_text(8) and r.id.startswith("resp_")
    types = [
        e.type
        for e in ai.responses.create(model="llama3.2", input="hello", stream=True)
    ]
    assert types[0] == "response.created" and types[-1] == "response.completed"
    assert types.count("response.output_text.delta") == 8
    raw = requests.post(
        fake.url + "/v1/responses",
        json={"model": "llama3.2", "input": "x", "stream": True},
    ).text
    assert raw.startswith("event: response.created\ndata: {") and "[DONE]" not in raw


# ---------------------------------------------------------------- controls


def test_hold_second_chunk(fake):
    fake.hold_second_chunk = True
    with requests.post(
        fake.url + "/api/generate",
        json={"model": "llama3.2", "prompt": "hi"},
        stream=True,
    ) as r:
        lines = r.iter_lines()
        first = json.loads(next(lines))
        assert first["response"] == "The"
        assert fake.first_chunk_sent.wait(2)
        time.sleep(0.3)
        assert fake.chunks_sent == 1  # second chunk not written yet
        fake.release.set()
        rest = [json.loads(x) for x in lines]
    assert len(rest) == 8 and rest[-1]["done"]
    assert fake.chunks_sent == 9


def test_hold_raw_socket_sees_nothing(fake):
    fake.hold_second_chunk = True
    s = _raw_request(
        fake,
        "POST",
        "/api/chat",
        {"model": "llama3.2", "messages": [{"role": "user", "content": "x"}]},
    )
    rd = _Reader(s)
    rd.head()
    assert json.loads(rd.chunk())["message"]["content"] == "The"
    s.settimeout(0.3)
    with pytest.raises(socket.timeout):
        rd.chunk()
    s.settimeout(5)
    fake.release.set()
    n = 1
    while rd.chunk():
        n += 1
    assert n == 9
    s.close()


def test_disconnect_detection(fake):
    fake.chunk_delay = 0.05
    with requests.post(
        fake.url + "/api/generate",
        stream=True,
        json={"model": "llama3.2", "prompt": "hi", "options": {"num_predict": 1000}},
    ) as r:
        lines = r.iter_lines()
        next(lines)
        next(lines)
    assert fake.disconnected.wait(2)
    assert fake.disconnect_count == 1
    sent = fake.chunks_sent
    time.sleep(0.3)
    assert fake.chunks_sent == sent < 20  # generation stopped
    assert fake.streams_completed == 0


def test_disconnect_detection_ollama_client(fake, oc):
    fake.chunk_delay = 0.02
    it = oc.chat(
        model="llama3.2",
        messages=[{"role": "user", "content": "x"}],
        stream=True,
        options={"num_predict": 1000},
    )
    next(it)
    it.close()  # generator cleanup closes the httpx response
    oc._client.close()
    assert fake.disconnected.wait(2)
    assert fake.disconnect_count == 1


def test_fail_mid_stream(fake, oc):
    fake.fail_mid_stream_after = 3
    got = []
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        for p in oc.generate(model="llama3.2", prompt="hi", stream=True):
            got.append(p)
    assert len(got) == 3 and fake.aborted_count == 1
    fake.fail_mid_stream_after = None
    assert oc.generate(model="llama3.2", prompt="hi").done


def test_error_mid_stream(fake, oc):
    fake.error_mid_stream = (2, "boom")
    with pytest.raises(ollama.ResponseError) as ei:
        list(oc.generate(model="llama3.2", prompt="hi", stream=True))
    assert ei.value.error == "boom" and ei.value.status_code == -1


def test_next_status_and_response_delay(fake, oc):
    fake.next_status = (
        503,
        {"error": "server busy, please try again.  maximum pending requests exceeded"},
    )
    with pytest.raises(ollama.ResponseError) as ei:
        oc.generate(model="llama3.2", prompt="hi")
    assert ei.value.status_code == 503 and "server busy" in ei.value.error
    assert oc.generate(model="llama3.2", prompt="hi").done  # one-shot

    fake.response_delay = 0.5
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(fake.url + "/api/version", timeout=0.1)
    fake.response_delay = 0
    assert requests.get(fake.url + "/api/version").ok


def test_reset_clears_everything(fake):
    requests.get(fake.url + "/api/tags")
    fake.models.clear()
    fake.chunk_delay = 1
    fake.reset()
    assert fake.requests == [] and len(fake.models) == 3 and fake.chunk_delay == 0
    assert not fake.disconnected.is_set() and not fake.release.is_set()
