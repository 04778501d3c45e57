"""OpenTelemetry traces: a live gateway exports a span per API call over OTLP/HTTP to
a collector on loopback, with the GenAI semantic conventions' names and attributes;
with the setting empty nothing of OpenTelemetry is even imported."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

from ollama_gate.call import Call
from ollama_gate.keys import Identity
from ollama_gate.traces.settings import parse_endpoint
from ollama_gate.traces.spans import attributes, failure, span_name
from tests.helpers.live import LiveGateway
from tests.helpers.paths import ROOT


class Collector:
    """An OTLP/HTTP collector of spans: POST /v1/traces, protobuf bodies."""

    def __init__(self) -> None:
        self.spans: list = []
        self.paths: list[str] = []
        self.lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                with collector.lock:
                    collector.paths.append(self.path)
                    for resource in request.resource_spans:
                        for scope in resource.scope_spans:
                            collector.spans.extend(scope.spans)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, names: set[str], within: float = 30) -> dict:
        """The spans by name once every one of ``names`` has come."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            with self.lock:
                found = {s.name: s for s in self.spans}
            if names <= set(found):
                return found
            time.sleep(0.1)
        raise AssertionError(f"spans {names - set(found)} never came; got {found}")


def attrs(span) -> dict:
    """A protobuf span's attributes as plain values."""
    out = {}
    for kv in span.attributes:
        value = kv.value
        kind = value.WhichOneof("value")
        if kind == "array_value":
            out[kv.key] = [v.string_value for v in value.array_value.values]
        else:
            out[kv.key] = getattr(value, kind)
    return out


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    c = Collector()
    yield c
    c.server.shutdown()


@pytest.fixture(scope="module")
def traced(tmp_path_factory, fake_server, collector) -> Iterator[LiveGateway]:
    gw = LiveGateway(
        tmp_path_factory.mktemp("traced"),
        fake_server.url,
        env={
            "OLLAMA_GATE_OTEL_ENDPOINT": collector.url,
            "OTEL_BSP_SCHEDULE_DELAY": "100",  # ms: export soon after the call
        },
    )
    yield gw.start()
    gw.stop()


def test_a_streamed_chat_and_a_refused_call_each_export_a_span(traced, collector):
    key = traced.key("tracy", model_allowlist="llama3*")
    auth = {"Authorization": f"Bearer {key}"}
    with requests.post(
        traced.url + "/api/chat",
        json={
            "model": "llama3.2",
            "messages": [{"role": "user", "content": "secret-prompt-7f3"}],
        },
        headers=auth,
        stream=True,
        timeout=30,
    ) as r:
        assert r.status_code == 200
        lines = [json.loads(line) for line in r.iter_lines() if line]
    assert lines[-1]["done"] is True
    refused = requests.post(
        traced.url + "/v1/embeddings",
        json={"model": "nomic-embed-text", "input": "hi"},
        headers=auth,
        timeout=30,
    )
    assert refused.status_code == 403

    spans = collector.wait_for({"chat llama3.2", "embeddings nomic-embed-text"})
    assert set(collector.paths) == {"/v1/traces"}

    chat = spans["chat llama3.2"]
    a = attrs(chat)
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.system"] == a["gen_ai.provider.name"] == "ollama"
    assert a["gen_ai.request.model"] == "llama3.2"
    assert a["gen_ai.response.model"] == "llama3.2"
    assert a["gen_ai.usage.input_tokens"] == lines[-1]["prompt_eval_count"]
    assert a["gen_ai.usage.output_tokens"] == lines[-1]["eval_count"]
    assert a["server.address"] == "127.0.0.1"
    assert a["ollama_gate.backend"]
    assert a["http.response.status_code"] == 200
    assert a["ollama_gate.streamed"] is True
    assert a["ollama_gate.time_to_first_token_ms"] > 0
    assert 0 < chat.start_time_unix_nano < chat.end_time_unix_nano
    assert chat.status.code != chat.status.STATUS_CODE_ERROR
    assert chat.kind == chat.SPAN_KIND_CLIENT
    # a span holds no prompt, no answer and no key (nor any part of the key's secret)
    answer = "".join(line["message"]["content"] for line in lines)
    sent = repr([(s.name, attrs(s)) for s in collector.spans])
    assert "secret-prompt-7f3" not in sent and answer not in sent
    assert key not in sent and key[12:] not in sent

    no = spans["embeddings nomic-embed-text"]
    b = attrs(no)
    assert b["gen_ai.operation.name"] == "embeddings"
    assert b["http.response.status_code"] == 403
    assert b["error.type"] == "403"
    assert "ollama_gate.backend" not in b  # refused before any backend
    assert no.status.code == no.status.STATUS_CODE_ERROR


def modules_after(code: str, env: dict[str, str]) -> set[str]:
    """The modules a fresh interpreter holds after ``code``."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            code + "; import sys, json; print(json.dumps(list(sys.modules)))",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_traces_off_import_nothing_of_opentelemetry(tmp_path):
    base = {k: v for k, v in os.environ.items() if not k.startswith("OLLAMA_GATE_")} | {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"
    }
    code = "from ollama_gate import create_app; create_app()"
    off = modules_after(code, base)
    assert not {m for m in off if m.startswith("opentelemetry")}
    on = modules_after(code, base | {"OLLAMA_GATE_OTEL_ENDPOINT": "http://127.0.0.1:9"})
    assert "opentelemetry.sdk.trace" in on  # the check would see it


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("", ""),
        ("http://c:4318", "http://c:4318/v1/traces"),
        ("http://c:4318/", "http://c:4318/v1/traces"),
        ("https://c/otlp/v1/traces", "https://c/otlp/v1/traces"),
    ],
)
def test_the_endpoint_setting_takes_a_base_or_the_traces_url(given, used):
    assert parse_endpoint(given) == used


@pytest.mark.parametrize("bad", ["c:4318", "ftp://c", "http://"])
def test_an_endpoint_that_is_no_http_url_is_refused(bad):
    with pytest.raises(ValueError):
        parse_endpoint(bad)


def test_spans_still_batched_are_sent_when_the_worker_stops(tmp_path, fake, collector):
    gw = LiveGateway(
        tmp_path,
        fake.url,
        env={
            "OLLAMA_GATE_OTEL_ENDPOINT": collector.url,
            "OTEL_BSP_SCHEDULE_DELAY": "600000",  # ten minutes: only the stop sends
        },
    ).start()
    try:
        key = gw.key("stopper")
        done = requests.post(
            gw.url + "/api/generate",
            json={"model": "qwen2.5:7b", "prompt": "hi", "stream": False},
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        assert done.status_code == 200
        os.killpg(gw.proc.pid, signal.SIGTERM)  # a graceful stop
        gw.proc.wait(60)
    finally:
        gw.stop()
    span = collector.wait_for({"generate_content qwen2.5:7b"}, within=5)
    assert attrs(span["generate_content qwen2.5:7b"])["ollama_gate.streamed"] is False


def a_call(endpoint: str, **fields) -> Call:
    who = Identity(1, 1, "alice", "og_12345678", "laptop", "active", None)
    return Call(who, "POST", endpoint, endpoint, endpoint, **fields)


def test_the_span_carries_the_queue_wait_and_the_alias_real_model():
    call = a_call(
        "/v1/chat/completions", model="gpt-4o", status=200, backend="gpu1", ttfb=0.25
    )
    call.queue_wait, call.upstream_model = 1.5, "llama3.2"
    call.stats.update(prompt_tokens=7, completion_tokens=3, done_reason="stop")
    a = attributes(call, "http://10.0.0.5:11434")
    assert span_name(call) == "chat gpt-4o"
    assert a["ollama_gate.queue_wait_ms"] == 1500.0
    assert a["ollama_gate.time_to_first_token_ms"] == 250.0
    assert (a["gen_ai.request.model"], a["gen_ai.response.model"]) == (
        "gpt-4o",
        "llama3.2",
    )
    assert (a["server.address"], a["server.port"]) == ("10.0.0.5", 11434)
    assert a["gen_ai.response.finish_reasons"] == ["stop"]
    assert "error.type" not in a and failure(call) is None
    assert None not in a.values()


@pytest.mark.parametrize(
    ("endpoint", "status", "error", "name", "why"),
    [
        (
            "/api/generate",
            200,
            "upstream closed",
            "generate_content m",
            "stream_broken",
        ),
        ("/api/embed", 504, None, "embeddings m", "504"),
        ("/api/chat", None, None, "chat m", "no_response"),
        ("/api/tags", 200, None, "POST /api/tags", None),
    ],
)
def test_names_and_failures(endpoint, status, error, name, why):
    call = a_call(endpoint, model="m", status=status, error=error)
    assert span_name(call) == name
    assert failure(call) == why
    a = attributes(call, None)
    assert ("gen_ai.operation.name" in a) == (not endpoint.endswith("tags"))
    assert "server.address" not in a
