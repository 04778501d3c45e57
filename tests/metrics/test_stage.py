"""The metrics' stage in one process: calls in flight go back down on every path, and
a cache's word on a call (``call.cache``) becomes its label."""

from __future__ import annotations

import json

import pytest
from flask import Response
from prometheus_client import REGISTRY

from ollama_gate.call import Call
from ollama_gate.pipeline import Stage
from tests.helpers.keys import add_key
from tests.helpers.services import free_port

GENERATE = {"model": "llama3.2", "prompt": "hi"}


def in_flight() -> float:
    return REGISTRY.get_sample_value("ollama_gate_calls_in_flight") or 0.0


def calls(**labels: str) -> float:
    return sum(
        s.value
        for family in REGISTRY.collect()
        if family.name == "ollama_gate_calls"
        for s in family.samples
        if s.name == "ollama_gate_calls_total"
        and all(s.labels.get(k) == v for k, v in labels.items())
    )


def post(client, key, body, **kw):
    return client.post(
        "/api/generate", headers={"Authorization": f"Bearer {key}"}, json=body, **kw
    )


@pytest.mark.parametrize(
    "case, status",
    [
        ("whole", 200),
        ("stream", 200),
        ("refused", 429),
        ("upstream_down", 502),
        ("upstream_error", 500),
    ],
)
def test_in_flight_goes_back_down_on_every_path(app, client, fake, case, status):
    key = add_key(app, rate_limit="1/minute" if case == "refused" else None)
    if case == "refused":
        assert post(client, key, {**GENERATE, "stream": False}).status_code == 200
    if case == "upstream_down":
        gate = app.extensions["ollama_gate"]
        gate.upstream.pool = type(gate.upstream)(
            f"http://127.0.0.1:{free_port()}", 1.0, 1.0, 1
        ).pool
    if case == "upstream_error":
        fake.next_status = (500, "boom")
    before = in_flight()
    reply = post(client, key, {**GENERATE, "stream": case == "stream"})
    reply.get_data()
    assert reply.status_code == status
    assert in_flight() == before


def test_in_flight_while_a_stream_runs_and_after_the_client_hangs_up(
    app, client, fake, key
):
    fake.hold_second_chunk = True
    before = in_flight()
    reply = post(client, key, GENERATE, buffered=False)
    first = next(iter(reply.response))
    assert json.loads(first.splitlines()[0])["done"] is False
    assert in_flight() == before + 1
    reply.close()  # the client goes away mid-stream
    fake.release.set()
    assert in_flight() == before


class CacheHit(Stage):
    """A stand-in for the cache: answers and says so in ``call.cache``."""

    name = "cache"

    def answer(self, call: Call):
        call.cache = "hit"
        return Response(
            b'{"response":"cached","done":true}', mimetype="application/json"
        )


def test_a_cache_hit_is_a_label_without_a_backend(app, client, fake, key):
    gate = app.extensions["ollama_gate"]
    stages = list(gate.pipeline.stages)
    at = next(i for i, s in enumerate(stages) if s.name == "routing")
    gate.set_stages(stages[:at] + [CacheHit()] + stages[at:])
    hit = dict(endpoint="/api/generate", status="200", backend="", cache="hit")
    before, flight = calls(**hit), in_flight()
    reply = post(client, key, {**GENERATE, "stream": False})
    assert reply.get_json()["response"] == "cached"
    gate.recorder.flush()
    assert calls(**hit) == before + 1
    assert calls(cache="hit", model="llama3.2:latest") >= 1
    assert in_flight() == flight


def model_labels() -> set[str]:
    return {
        s.labels["model"]
        for family in REGISTRY.collect()
        if family.name == "ollama_gate_calls"
        for s in family.samples
        if s.name == "ollama_gate_calls_total"
    }


SPELLINGS = [
    "llama3.2",
    "Llama3.2",
    "LLAMA3.2:latest",
    "library/llama3.2",
    "registry.ollama.ai/library/llama3.2:latest",
    " llama3.2 ",
]


def test_many_spellings_of_one_model_are_one_label(app, client, fake, key):
    for spelling in SPELLINGS:
        reply = post(client, key, {**GENERATE, "model": spelling, "stream": False})
        assert reply.status_code == 200, (spelling, reply.get_data())
    app.extensions["ollama_gate"].recorder.flush()
    assert calls(model="llama3.2:latest") >= len(SPELLINGS)
    minted = model_labels() & {s for s in SPELLINGS if s != "llama3.2:latest"}
    assert minted == set()


def test_distinct_model_labels_are_capped(monkeypatch):
    from ollama_gate.keys import Identity
    from ollama_gate.metrics import labels
    from ollama_gate.metrics.stage import count

    monkeypatch.setattr(labels, "MODELS", labels.Bounded(labels.MAX_MODELS))
    before = model_labels()
    ident = Identity(1, 1, "u", "og_x", "k", "active", None)
    for i in range(labels.MAX_MODELS + 50):
        call = Call(ident, "POST", "/api/chat", "/api/chat", "/api/chat")
        call.model, call.status = f"cap-test-{i}", 200
        count(call)
    new = model_labels() - before
    assert len(new) == labels.MAX_MODELS + 1  # the first MAX_MODELS, and ``other``
    assert "other" in new and "cap-test-0:latest" in new
    assert f"cap-test-{labels.MAX_MODELS}:latest" not in new
