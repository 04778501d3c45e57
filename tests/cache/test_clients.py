"""The official ``ollama`` and ``openai`` clients read a cache hit exactly as they read
the live answer it replays (a live gunicorn gateway, the fake Ollama upstream)."""

from __future__ import annotations

import time

import ollama
import pytest
import requests
from openai import OpenAI

MESSAGES = [{"role": "user", "content": "Why is the sky blue?"}]


def wait_for_hit(gateway, key: str, path: str, body: dict) -> None:
    """Call until the answer is a hit: the miss's answer is stored in the background."""
    for _ in range(100):
        resp = requests.post(
            gateway.url + path,
            json=body,
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
        assert resp.status_code == 200, resp.text
        if resp.headers["X-Ollama-Gate-Cache"] == "hit":
            return
        time.sleep(0.1)
    raise AssertionError("the answer was never cached")


def live_then_hit(fake, gateway, key, path, body, run):
    """``run()`` live, then again once the answer is cached: both results, and
    whether the second reached the upstream."""
    live = run()
    wait_for_hit(gateway, key, path, body)
    before = len(fake.requests_to(path, "POST"))
    hit = run()
    return live, hit, len(fake.requests_to(path, "POST")) - before


@pytest.fixture()
def key(gateway, request):
    return gateway.key(f"clients-{request.node.name[-40:]}")  # a user (scope) each


@pytest.mark.parametrize("stream", [True, False])
def test_ollama_chat(fake, gateway, key, stream):
    client = ollama.Client(host=gateway.url, headers={"Authorization": f"Bearer {key}"})
    options = {"temperature": 0}

    def run():
        got = client.chat(
            model="llama3.2", messages=MESSAGES, stream=stream, options=options
        )
        parts = list(got) if stream else [got]
        return [p.model_dump(exclude={"created_at"}) for p in parts]

    body = {"model": "llama3.2", "messages": MESSAGES, "options": options}
    live, hit, upstream = live_then_hit(
        fake, gateway, key, "/api/chat", {**body, "stream": stream}, run
    )
    assert upstream == 0 and hit == live
    assert hit[-1]["done"] is True and hit[-1]["eval_count"] == 8
    text = "".join(p["message"]["content"] for p in hit)
    assert text == fake.expected_text()


def test_ollama_generate_stream_and_embed(fake, gateway, key):
    client = ollama.Client(host=gateway.url, headers={"Authorization": f"Bearer {key}"})

    def generate():
        parts = client.generate(
            model="llama3.2", prompt="Why?", stream=True, options={"seed": 3}
        )
        return [p.model_dump(exclude={"created_at"}) for p in parts]

    body = {"model": "llama3.2", "prompt": "Why?", "options": {"seed": 3}}
    live, hit, upstream = live_then_hit(
        fake, gateway, key, "/api/generate", body, generate
    )
    assert upstream == 0 and hit == live and hit[-1]["context"]

    def embed():
        return client.embed(model="nomic-embed-text", input=["a", "b"]).model_dump()

    body = {"model": "nomic-embed-text", "input": ["a", "b"]}
    live, hit, upstream = live_then_hit(fake, gateway, key, "/api/embed", body, embed)
    assert upstream == 0 and hit == live
    assert hit["embeddings"][0] == fake.embedding_for("a")


@pytest.mark.parametrize("usage", [False, True])
def test_openai_chat_stream(fake, gateway, key, usage):
    client = OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)
    extra = {"stream_options": {"include_usage": True}} if usage else {}

    def run():
        chunks = client.chat.completions.create(
            model="llama3.2", messages=MESSAGES, temperature=0, stream=True, **extra
        )
        return [c.model_dump(exclude={"id", "created"}) for c in chunks]

    body = {"model": "llama3.2", "messages": MESSAGES, "temperature": 0}
    live, hit, upstream = live_then_hit(
        fake, gateway, key, "/v1/chat/completions", {**body, "stream": True}, run
    )
    assert upstream == 0 and hit == live
    assert (hit[-1]["usage"] is not None) is usage
    text = "".join(
        c["choices"][0]["delta"]["content"] or "" for c in hit if c["choices"]
    )
    assert text == fake.expected_text()


def test_openai_whole_completion_and_base64_embeddings(fake, gateway, key):
    client = OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)

    def complete():
        got = client.completions.create(model="llama3.2", prompt="Why?", seed=5)
        return got.model_dump(exclude={"id", "created"})

    body = {"model": "llama3.2", "prompt": "Why?", "seed": 5}
    live, hit, upstream = live_then_hit(
        fake, gateway, key, "/v1/completions", body, complete
    )
    assert upstream == 0 and hit == live and hit["usage"]["completion_tokens"] == 8

    def embed():
        return client.embeddings.create(
            model="nomic-embed-text", input="a"
        ).model_dump()

    body = {"model": "nomic-embed-text", "input": "a", "encoding_format": "base64"}
    live, hit, upstream = live_then_hit(
        fake, gateway, key, "/v1/embeddings", body, embed
    )
    assert upstream == 0 and hit == live
    assert hit["data"][0]["embedding"] == pytest.approx(fake.embedding_for("a"))
