"""Cold model loads through a live gunicorn gateway: a client that gives up during
the load does not abort it (the retry is served warm, one load made), a stream's
head goes at once, a failure after that head is Ollama's ``{"error"}`` line that
ollama-python raises, and each load's time reaches history and ``/metrics``."""

from __future__ import annotations

import time
from collections.abc import Iterator

import ollama
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from ollama_gate.extensions import db
from ollama_gate.history.models import Request
from tests.fakes.ollama import FakeOllama
from tests.helpers.live import LiveGateway, wait_for

LOAD = 2.0  # seconds the fake takes to load a model
MODELS = ("cold-a", "cold-b", "cold-c", "cold-d", "cold-e")


@pytest.fixture(scope="module")
def cold_fake() -> Iterator[FakeOllama]:
    """A fake of its own, whose models (but llama3.2) take ``LOAD`` s to load."""
    fake = FakeOllama().start()
    for name in MODELS:
        fake.add_model(f"{name}:latest")
    fake.load_delay = LOAD
    FAKES[fake.url] = fake
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def cold_gw(tmp_path_factory, cold_fake) -> Iterator[LiveGateway]:
    """A live gateway in front of ``cold_fake`` (it knows what is loaded at start)."""
    gw = started(LiveGateway(tmp_path_factory.mktemp("coldgw"), cold_fake.url))
    yield gw
    gw.stop()


def started(gw: LiveGateway) -> LiveGateway:
    """``gw`` started, once its first health check has read what is loaded (a call
    before that knows nothing of its backend, so none is cold)."""
    fake = cold_fake_of(gw)
    seen = len(fake.requests_to("/api/ps"))
    gw.start()
    assert wait_for(lambda: len(fake.requests_to("/api/ps")) > seen)
    time.sleep(0.2)  # its answer read and kept
    return gw


def cold_fake_of(gw: LiveGateway) -> FakeOllama:
    return FAKES[gw.env["OLLAMA_GATE_BACKENDS"]]


FAKES: dict[str, FakeOllama] = {}


def rows(gw: LiveGateway, model: str) -> list[Request]:
    """The history rows of ``model``'s calls, oldest first."""
    with gw.app.app_context():
        found = db.session.execute(
            select(Request).where(Request.model == model).order_by(Request.started_at)
        )
        return list(found.scalars())


def load_count(gw: LiveGateway, model: str) -> float:
    """``ollama_gate_model_load_seconds_count`` of ``model``, from ``/metrics``."""
    text = requests.get(gw.url + "/metrics", timeout=10).text
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "ollama_gate_model_load_seconds_count"
        and s.labels.get("model") == f"{model}:latest"
    )


def test_a_retry_after_the_client_gave_up_is_served_warm(cold_gw, cold_fake):
    key = cold_gw.key()
    auth = {"Authorization": f"Bearer {key}"}
    body = {"model": "cold-a", "prompt": "Hi", "stream": False}
    with pytest.raises(requests.Timeout):  # the client gives up during the load
        requests.post(
            cold_gw.url + "/api/generate", json=body, headers=auth, timeout=0.5
        )
    assert wait_for(lambda: cold_fake.loads_completed + cold_fake.loads_aborted >= 1)
    assert (cold_fake.loads_completed, cold_fake.loads_aborted) == (1, 0)
    # the gave-up call is recorded once it ended upstream (after the load), not when
    # its client left: its slot was held while the backend loaded
    assert wait_for(lambda: len(rows(cold_gw, "cold-a")) == 1)
    first = rows(cold_gw, "cold-a")[0]
    assert first.disconnected and first.status == 200
    assert first.total_ms >= LOAD * 1000 * 0.9
    assert first.stats["cold_load"] is True
    assert first.stats["load_duration"] >= LOAD * 1e9 * 0.9
    retry = requests.post(cold_gw.url + "/api/generate", json=body, headers=auth)
    assert retry.status_code == 200, retry.text
    assert retry.json()["load_duration"] < 0.5e9  # warm: no load of its own
    assert cold_fake.loads_started == 1
    assert wait_for(lambda: len(rows(cold_gw, "cold-a")) == 2)
    assert load_count(cold_gw, "cold-a") == 1  # the retry was not a load


def test_the_fake_alone_aborts_the_load_of_a_client_that_left(cold_fake):
    before = cold_fake.loads_aborted
    body = {"model": "cold-b", "prompt": "Hi", "stream": False}
    with pytest.raises(requests.Timeout):
        requests.post(cold_fake.url + "/api/generate", json=body, timeout=0.5)
    assert wait_for(lambda: cold_fake.loads_aborted == before + 1)
    assert not any(n.startswith("cold-b") for n in cold_fake.loaded)


def test_a_cold_stream_gets_its_head_at_once(cold_gw, cold_fake):
    key = cold_gw.key()
    done = cold_fake.loads_completed
    body = {"model": "cold-c", "prompt": "Hi there"}  # native: streams by default
    with requests.post(
        cold_gw.url + "/api/generate",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        stream=True,
        timeout=30,
    ) as resp:
        # the head is here while the model still loads
        assert cold_fake.loads_completed == done
        assert resp.status_code == 200
        assert resp.headers["Content-Type"] == "application/x-ndjson"
        lines = [line for line in resp.iter_lines() if line]
    assert cold_fake.loads_completed == done + 1
    assert b'"done":true' in lines[-1] and len(lines) > 2
    assert wait_for(lambda: len(rows(cold_gw, "cold-c")) == 1)
    row = rows(cold_gw, "cold-c")[0]
    assert row.completed and row.stats["load_duration"] >= LOAD * 1e9 * 0.9
    assert load_count(cold_gw, "cold-c") == 1


def test_a_failure_after_the_head_is_an_error_line_ollama_python_raises(
    cold_gw, cold_fake
):
    key = cold_gw.key()
    client = ollama.Client(host=cold_gw.url, headers={"Authorization": f"Bearer {key}"})
    # Ollama's answer when the runner dies while loading
    cold_fake.next_status = (500, {"error": "llama runner process has terminated"})
    stream = client.generate(model="cold-d", prompt="Hi", stream=True)
    with pytest.raises(ollama.ResponseError) as failed:
        for _part in stream:
            pass
    assert "llama runner process has terminated" in str(failed.value)
    assert wait_for(lambda: len(rows(cold_gw, "cold-d")) == 1)
    row = rows(cold_gw, "cold-d")[0]
    assert row.status == 500 and "terminated" in row.error


def test_a_load_outliving_its_client_past_the_grace_is_cut(tmp_path, cold_fake):
    gw = started(
        LiveGateway(tmp_path, cold_fake.url, env={"OLLAMA_GATE_COLD_LOAD_GRACE": "0.5"})
    )
    try:
        key = gw.key()
        aborted = cold_fake.loads_aborted
        body = {"model": "cold-e", "prompt": "Hi", "stream": False}
        with pytest.raises(requests.Timeout):
            requests.post(
                gw.url + "/api/generate",
                json=body,
                headers={"Authorization": f"Bearer {key}"},
                timeout=0.3,
            )
        assert wait_for(lambda: cold_fake.loads_aborted == aborted + 1)
        assert wait_for(lambda: len(rows(gw, "cold-e")) == 1)
        row = rows(gw, "cold-e")[0]
        assert row.disconnected and "model load cut 0.5 s after" in row.error
        # the cut call was not sent again (a retry on a fresh connection would load)
        assert not cold_fake.loading
        assert cold_fake.loads_started == (
            cold_fake.loads_aborted + cold_fake.loads_completed
        )
    finally:
        gw.stop()
