"""Ctrl-C drains like SIGTERM: the terminal sends SIGINT to gunicorn's whole process
group (master and workers); a stream in flight runs to its end and is recorded, and
a second Ctrl-C stops at once."""

from __future__ import annotations

import json
import os
import signal

import pytest
import requests

from ollama_gate.extensions import db
from ollama_gate.history.models import Request
from tests.helpers.live import LiveGateway

GRACE = 60  # far longer than the streams: a stop must not wait it out


def stream(gw: LiveGateway, tokens: int):
    """A streaming generate call of ``tokens`` tokens; its lines, the first read."""
    reply = requests.post(
        gw.url + "/api/generate",
        json={
            "model": "llama3.2",
            "prompt": "Count",
            "options": {"num_predict": tokens},
        },
        headers={"Authorization": f"Bearer {gw.key()}"},
        stream=True,
        timeout=30,
    )
    lines = reply.iter_lines()
    assert json.loads(next(lines))["done"] is False
    return lines


def ctrl_c(gw: LiveGateway) -> None:
    """What a terminal does on Ctrl-C: SIGINT to the foreground process group."""
    os.killpg(gw.proc.pid, signal.SIGINT)


@pytest.fixture()
def gw(tmp_path, fake):
    gw = LiveGateway(
        tmp_path, fake.url, env={"OLLAMA_GATE_GRACEFUL_TIMEOUT": str(GRACE)}
    ).start()
    yield gw
    fake.chunk_delay = 0.0
    gw.stop()


def test_ctrl_c_lets_a_stream_finish_and_records_it(gw, fake):
    fake.chunk_delay = 0.25  # 12 tokens: about 3 s
    lines = stream(gw, 12)
    ctrl_c(gw)
    rest = [json.loads(line) for line in lines if line]
    assert rest[-1]["done"] is True and rest[-1]["eval_count"] == 12
    assert len(rest) == 12  # every token after the first, then the end
    assert gw.proc.wait(GRACE / 3) == 0  # left once the stream ended
    with gw.app.app_context():
        rows = db.session.execute(db.select(Request)).scalars().all()
    generated = [r for r in rows if r.endpoint == "/api/generate"]
    assert len(generated) == 1 and generated[0].completed, rows
    assert generated[0].completion_tokens == 12


def test_a_second_ctrl_c_stops_at_once(gw, fake):
    fake.chunk_delay = 0.5  # 200 tokens: 100 s, longer than the grace
    lines = stream(gw, 200)
    ctrl_c(gw)
    next(lines)  # still streaming after the first Ctrl-C
    ctrl_c(gw)
    assert gw.proc.wait(GRACE / 3) is not None  # not the stream's end, nor the grace
    got = []
    try:
        for line in lines:
            if line:
                got.append(json.loads(line))
    except requests.RequestException:
        pass  # the connection was cut
    assert not got or got[-1]["done"] is False  # the stream did not run to its end
