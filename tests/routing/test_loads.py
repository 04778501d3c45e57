"""Which calls are cold (``routing.loads.cold_model``): their model loaded on none of
their candidates, though one that was checked lists it."""

from __future__ import annotations

import threading

import pytest
import requests

from ollama_gate.call import Call
from ollama_gate.keys import Identity
from ollama_gate.routing.backends import BackendConfig, BackendState
from ollama_gate.routing.loads import cold_model
from tests.fakes.ollama import FakeOllama

TAG = {"name": "qwen2.5:7b"}


def state(name: str, models=(), loaded=(), checked=True) -> BackendState:
    b = BackendState(BackendConfig(name=name, url=f"http://{name}:11434"), None)
    b.models = {m: TAG for m in models}
    b.loaded = {m: TAG for m in loaded}
    b.checked_at = 1.0 if checked else 0.0
    return b


def call(path: str = "/api/chat", method: str = "POST") -> Call:
    return Call(
        identity=Identity(1, 1, "alice", "og_x", "k", "active", None),
        method=method,
        path=path,
        upstream_path=path,
        endpoint=path,
    )


def test_a_model_listed_but_loaded_nowhere_is_cold():
    both = [state("a", ["qwen2.5:7b"]), state("b", ["qwen2.5:7b"])]
    assert cold_model(call(), both, "Qwen2.5:7b") == "qwen2.5:7b"


@pytest.mark.parametrize(
    ("the_call", "candidates", "model"),
    [
        (call(), [state("a", ["qwen2.5:7b"], ["qwen2.5:7b"])], "qwen2.5:7b"),
        (
            call(),
            [state("a", ["qwen2.5:7b"]), state("b", [], ["qwen2.5:7b"])],
            "qwen2.5:7b",
        ),
        (call(), [state("a", ["qwen2.5:7b"], checked=False)], "qwen2.5:7b"),  # unknown
        (call(), [state("a", [])], "qwen2.5:7b"),  # nobody lists it: Ollama's 404
        (call("/api/show"), [state("a", ["qwen2.5:7b"])], "qwen2.5:7b"),
        (call("/api/tags", "GET"), [state("a", ["qwen2.5:7b"])], "qwen2.5:7b"),
        (call(), [state("a", ["qwen2.5:7b"])], None),
    ],
)
def test_not_cold(the_call, candidates, model):
    assert cold_model(the_call, candidates, model) is None


def test_the_fake_loads_a_model_once_for_calls_that_wait_on_it():
    fake = FakeOllama().start()
    try:
        fake.load_delay = 0.5
        body = {"model": "qwen2.5:7b", "prompt": "Hi", "stream": False}
        replies = []
        threads = [
            threading.Thread(
                target=lambda: replies.append(
                    requests.post(fake.url + "/api/generate", json=body, timeout=10)
                )
            )
            for _ in range(3)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [r.status_code for r in replies] == [200, 200, 200]
        assert (fake.loads_started, fake.loads_completed) == (1, 1)
        assert "qwen2.5:7b" in fake.loaded
    finally:
        fake.stop()
