"""Loading progress (``--loading-progress on``): a native stream to a model still
loading gets a line every second until the answer starts, one that ollama-python
parses as an empty chunk; a key without it gets none, and history keeps no such
line."""

from __future__ import annotations

import json
from collections.abc import Iterator

import ollama
import pytest
import requests

from tests.fakes.ollama import FakeOllama
from tests.helpers.live import LiveGateway
from tests.proxy.test_coldload import FAKES, rows, started, wait_for

LOAD = 3.5  # seconds the fake takes to load: the head at 1 s, lines after


@pytest.fixture(scope="module")
def slow_fake() -> Iterator[FakeOllama]:
    fake = FakeOllama().start()
    for name in ("slow-a", "slow-b", "slow-c"):
        fake.add_model(f"{name}:latest")
    fake.load_delay = LOAD
    FAKES[fake.url] = fake
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def slow_gw(tmp_path_factory, slow_fake) -> Iterator[LiveGateway]:
    gw = started(LiveGateway(tmp_path_factory.mktemp("slowgw"), slow_fake.url))
    yield gw
    gw.stop()


def lines_of(gw, key, model, path="/api/generate") -> list[dict]:
    body = {"model": model}
    if path == "/api/chat":
        body["messages"] = [{"role": "user", "content": "Hi"}]
    else:
        body["prompt"] = "Hi"
    with requests.post(
        gw.url + path,
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        stream=True,
        timeout=30,
    ) as resp:
        assert resp.status_code == 200
        return [json.loads(line) for line in resp.iter_lines() if line]


def test_an_opted_in_stream_gets_loading_lines_ollama_python_skips(slow_gw):
    key = slow_gw.key("alice", loading_progress=True)
    client = ollama.Client(host=slow_gw.url, headers={"Authorization": f"Bearer {key}"})
    parts = list(
        client.chat(
            model="slow-a", messages=[{"role": "user", "content": "Hi"}], stream=True
        )
    )
    empty = [p for p in parts if not p.done and p.message.content == ""]
    assert len(empty) >= 1  # parsed as chunks with nothing to show
    assert parts[-1].done and "".join(p.message.content for p in parts)
    lines = lines_of(slow_gw, key, "slow-b")  # generate's shape
    loading = [x for x in lines if "gateway" in x]
    assert loading and all(
        x["response"] == "" and x["done"] is False and x["model"] == "slow-b"
        for x in loading
    )
    waited = [x["gateway"]["waited_ms"] for x in loading]
    assert waited == sorted(waited) and loading[0]["gateway"]["loading"]
    assert lines[-1]["done"] is True and "gateway" not in lines[-1]
    wait_for(lambda: len(rows(slow_gw, "slow-b")) == 1)
    row = rows(slow_gw, "slow-b")[0]
    assert row.completed and "gateway" not in json.dumps(row.answer)
    assert row.ttfb_ms >= LOAD * 1000 * 0.9  # the first byte is the answer's


def test_a_stream_without_the_opt_in_gets_no_loading_line(slow_gw):
    key = slow_gw.key("bob")
    lines = lines_of(slow_gw, key, "slow-c", "/api/chat")
    assert not any("gateway" in x for x in lines)
    assert lines[-1]["done"] is True
