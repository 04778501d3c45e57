"""The pipeline of stages: the order, each step, and release exactly once on every
path."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from flask import Response

from ollama_gate.call import Call
from ollama_gate.errors import ApiError
from ollama_gate.extensions import db
from ollama_gate.history.models import Request
from ollama_gate.pipeline import Pipeline, Stage, takes
from tests.fakes.ollama import FakeOllama

GENERATE = {"model": "llama3.2", "prompt": "hi"}


class Spy(Stage):
    """Counts the release and record steps per call, and can answer or route."""

    name = "spy"

    def __init__(self, answer=None, upstream=None, refuse=None):
        self.released: Counter = Counter()
        self.recorded: list[Call] = []
        self._answer, self._upstream, self._refuse = answer, upstream, refuse

    def admit(self, call: Call) -> None:
        if self._refuse:
            raise ApiError(429, self._refuse)

    def answer(self, call: Call):
        return self._answer() if self._answer else None

    def route(self, call: Call):
        return self._upstream

    def release(self, call: Call) -> None:
        self.released[id(call)] += 1

    def record(self, calls: list[Call]) -> None:
        self.recorded.extend(calls)


def with_spy(app, spy: Spy, before: str = "routing") -> None:
    """Put ``spy`` into the app's pipeline just before the stage named ``before``."""
    gate = app.extensions["ollama_gate"]
    stages = list(gate.pipeline.stages)
    at = next(i for i, s in enumerate(stages) if s.name == before)
    gate.set_stages(stages[:at] + [spy] + stages[at:])


def post(client, key, body, **kw):
    return client.post(
        "/api/generate", headers={"Authorization": f"Bearer {key}"}, json=body, **kw
    )


def history(app) -> list[tuple]:
    app.extensions["ollama_gate"].recorder.flush()
    with app.app_context():
        return db.session.execute(
            db.select(Request.status, Request.endpoint, Request.backend)
        ).all()


def test_the_path_is_one_list_in_order(app):
    """Summary first (recorders need its tokens), the person behind an app key before
    the limits, limits before any answer or route."""
    pipeline = app.extensions["ollama_gate"].pipeline
    names = [stage.name for stage in pipeline.stages]
    assert names == [
        "summary",
        "touch-keys",
        "endusers",  # an app key's person first in the chain the limits read
        "limits",
        "endusers-admitted",
        "aliases",
        "model-policy",
        "cache",
        "routing",
        "loads",
        "metrics",
        "call-log",
        "history",
    ]
    assert [m.__self__.name for m in pipeline.recorders] == [
        "summary",
        "touch-keys",
        "endusers",
        "limits",
        "cache",
        "routing",  # learns each backend's prompt reading rate (prefix waits)
        "loads",
        "metrics",
        "call-log",
        "history",
    ]


def test_each_step_lists_only_the_stages_that_take_it():
    class AdmitOnly(Stage):
        def admit(self, call):
            pass

    a, plain = AdmitOnly(), Stage()
    pipeline = Pipeline([a, plain])
    assert takes(a, "admit") and not takes(a, "record") and not takes(plain, "admit")
    assert pipeline._admit == [a.admit]
    assert pipeline._answer == pipeline._route == pipeline._release == []
    assert pipeline.recorders == [] and pipeline._filter == []


def test_no_stage_routes_is_a_clear_502():
    with pytest.raises(ApiError) as err:
        Pipeline([Stage()]).route(object())
    assert err.value.status == 502


def test_filters_run_in_order():
    class Add(Stage):
        def __init__(self, tag):
            self.tag = tag

        def filter(self, call, body):
            return body + self.tag

    assert Pipeline([Add(b"1"), Add(b"2")]).filter(None, b"0") == b"012"


def test_a_stage_that_answers_skips_the_upstream(app, client, fake, key):
    spy = Spy(
        answer=lambda: Response(
            b'{"response":"cached","done":true}', mimetype="application/json"
        )
    )
    with_spy(app, spy)
    resp = post(client, key, {**GENERATE, "stream": False})
    assert resp.status_code == 200 and resp.get_json()["response"] == "cached"
    assert fake.requests_to("/api/generate") == []
    assert list(spy.released.values()) == [1]
    assert history(app) == [(200, "/api/generate", None)]
    assert len(spy.recorded) == 1 and spy.recorded[0].completed


def test_a_stage_that_answers_with_a_stream_is_relayed_and_finished(
    app, client, fake, key
):
    lines = [b'{"response":"a","done":false}\n', b'{"response":"","done":true}\n']
    spy = Spy(answer=lambda: Response(iter(lines), content_type="application/x-ndjson"))
    with_spy(app, spy)
    resp = post(client, key, GENERATE)
    assert resp.get_data() == b"".join(lines)
    assert fake.requests_to("/api/generate") == []
    assert list(spy.released.values()) == [1]
    app.extensions["ollama_gate"].recorder.flush()
    (call,) = spy.recorded
    assert call.streamed and call.completed and call.body == b"".join(lines)


def test_a_stage_that_routes_picks_the_upstream(app, client, fake, key):
    other = FakeOllama().start()
    try:
        gate = app.extensions["ollama_gate"]
        upstream = type(gate.upstream)(other.url, 5.0, 30.0, 4)
        spy = Spy(upstream=upstream)
        with_spy(app, spy)
        resp = post(client, key, {**GENERATE, "stream": False})
        assert resp.status_code == 200
        assert len(other.requests_to("/api/generate")) == 1
        assert fake.requests_to("/api/generate") == []
        assert history(app) == [(200, "/api/generate", other.url)]
    finally:
        other.stop()


@pytest.mark.parametrize(
    "case", ["whole", "stream", "refused", "upstream_down", "upstream_error"]
)
def test_release_runs_once_on_every_path(app, client, fake, key, case):
    spy = Spy(refuse="no" if case == "refused" else None)
    with_spy(app, spy, before="limits")
    if case == "upstream_down":
        gate = app.extensions["ollama_gate"]
        spy._upstream = type(gate.upstream)("http://127.0.0.1:9", 1.0, 1.0, 1)
    if case == "upstream_error":
        fake.next_status = (500, "boom")
    body = {**GENERATE, "stream": case == "stream"}
    resp = post(client, key, body)
    resp.get_data()
    expected = {
        "whole": 200,
        "stream": 200,
        "refused": 429,
        "upstream_down": 502,
        "upstream_error": 500,
    }[case]
    assert resp.status_code == expected
    assert list(spy.released.values()) == [1]
    assert [status for status, *_ in history(app)] == [expected]


def test_release_runs_once_when_the_client_hangs_up(app, client, fake, key):
    fake.hold_second_chunk = True  # the stream stays open after its first chunk
    spy = Spy()
    with_spy(app, spy, before="limits")
    resp = post(client, key, GENERATE, buffered=False)
    first = next(iter(resp.response))
    assert json.loads(first.splitlines()[0])["done"] is False
    resp.close()  # the client goes away mid-stream
    fake.release.set()
    assert list(spy.released.values()) == [1]
    app.extensions["ollama_gate"].recorder.flush()
    (call,) = spy.recorded
    assert call.disconnected and not call.completed
