"""The call log (ollama_gate/ops/calllog.py): one line per call with its request id,
never a key or a prompt; server errors logged with their backend; the backends
checked at a worker's start."""

from __future__ import annotations

import json
import logging
import re
import time

import pytest
import requests

from ollama_gate import create_app
from ollama_gate.extensions import db
from ollama_gate.keys import visible_prefix
from tests.helpers.keys import add_key
from tests.helpers.live import LiveGateway
from tests.helpers.services import free_port

PROMPT = "my-secret-prompt-text-7c1f"
CHAT = {"model": "llama3.2", "messages": [{"role": "user", "content": PROMPT}]}
CALL_LINE = re.compile(r"\] call (id=\S+ .*)$", re.M)


def call_lines(gw: LiveGateway, n: int) -> list[str]:
    """The gateway's call lines, once there are ``n`` (they follow each call's end)."""
    deadline = time.monotonic() + 20
    while True:
        lines = CALL_LINE.findall(gw.log_path.read_text())
        if len(lines) >= n or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


@pytest.fixture()
def logged(tmp_path, fake_server):
    """A live gateway (one gevent worker) with a second, dead backend configured."""
    dead = f"http://127.0.0.1:{free_port()}"
    gw = LiveGateway(
        tmp_path,
        f"{fake_server.url},spare={dead}",
        env={"OLLAMA_GATE_RATE_LIMIT": "2/minute"},
    ).start()
    gw.dead = dead
    yield gw
    gw.stop()


def test_one_line_per_call_without_key_or_prompt(logged, fake_server):
    fake_server.reset()
    gw = logged
    key = gw.key()
    auth = {"Authorization": f"Bearer {key}"}
    start_lines = len(call_lines(gw, 0))  # the start-up's keyless polls (401)
    given = requests.post(
        gw.url + "/api/chat",
        json={**CHAT, "stream": False},
        headers={**auth, "X-Request-ID": "client-id-42"},
        timeout=30,
    )
    assert given.status_code == 200 and given.headers["X-Request-ID"] == "client-id-42"
    stream = requests.post(
        gw.url + "/v1/chat/completions",
        json={**CHAT, "stream": True},
        headers={**auth, "X-Request-ID": "not sane\tid"},
        timeout=30,
    )
    assert stream.status_code == 200
    made = stream.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)  # a new one for an odd id
    bad = requests.get(
        gw.url + "/api/tags", headers={"Authorization": "Bearer og_wrong"}, timeout=10
    )
    assert bad.status_code == 401 and bad.headers["X-Request-ID"]
    limited = requests.get(gw.url + "/api/tags", headers=auth, timeout=10)
    assert limited.status_code == 429  # the third of 2/minute

    lines = call_lines(gw, start_lines + 4)[start_lines:]
    assert len(lines) == 4, lines
    by_id = {re.match(r"id=(\S+)", line).group(1): line for line in lines}
    assert set(by_id) >= {"client-id-42", made, bad.headers["X-Request-ID"]}
    chat = by_id["client-id-42"]
    prefix = visible_prefix(key)
    for part in (
        "endpoint=/api/chat",
        "status=200",
        "model=llama3.2",
        f"backend={fake_server.url.split('://', 1)[1]}",
        f"key={prefix}",
        "user=alice",
        "in=",
        "out=8",
        "ttfb_ms=",
        "total_ms=",
    ):
        assert part in chat, (part, chat)
    assert "endpoint=/v1/chat/completions" in by_id[made] and "out=8" in by_id[made]
    assert "status=401" in by_id[bad.headers["X-Request-ID"]]
    assert any("status=429" in line for line in lines)
    log = gw.log_path.read_text()
    assert key not in log and "og_wrong" not in log
    assert PROMPT not in log


def test_the_backends_are_checked_at_start(logged, fake_server):
    name = fake_server.url.split("://", 1)[1]  # a bare URL is named host:port
    deadline = time.monotonic() + 20
    while not all(
        text in logged.log_path.read_text()
        for text in ("does not answer", f"backend {name} ({fake_server.url}) answers")
    ):
        assert time.monotonic() < deadline, logged.log_path.read_text()
        time.sleep(0.1)
    log = logged.log_path.read_text()
    assert f"backend spare ({logged.dead}) does not answer" in log


def make_app(tmp_path, backend: str, **overrides):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'gate.db'}",
            "BACKENDS": [backend],
            "KEY_CACHE_SECONDS": 0.0,
            **overrides,
        }
    )
    with app.app_context():
        db.create_all()
    return app


def access_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "ollama_gate.access"]


def test_json_lines(tmp_path, fake, caplog):
    app = make_app(tmp_path, fake.url, CALL_LOG="json")
    key = add_key(app)
    caplog.set_level(logging.INFO, logger="ollama_gate.access")
    reply = app.test_client().post(
        "/api/chat",
        json={**CHAT, "stream": False},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert reply.status_code == 200
    app.extensions["ollama_gate"].recorder.flush()
    (record,) = access_records(caplog)
    line = json.loads(record.getMessage())
    assert line["id"] == reply.headers["X-Request-ID"]
    assert line["status"] == 200 and line["model"] == "llama3.2"
    assert line["key"] == visible_prefix(key) and line["out"] == 8
    assert key not in record.getMessage() and PROMPT not in record.getMessage()


def test_a_502_is_a_warning_with_its_backend_even_with_the_log_off(tmp_path, caplog):
    dead = f"http://127.0.0.1:{free_port()}"
    app = make_app(tmp_path, dead, CALL_LOG="off")
    key = add_key(app)
    caplog.set_level(logging.INFO, logger="ollama_gate.access")
    client = app.test_client()
    auth = {"Authorization": f"Bearer {key}"}
    assert client.post("/api/chat", json=CHAT, headers=auth).status_code == 502
    assert client.get("/api/tags").status_code == 401  # off: no line for this
    app.extensions["ollama_gate"].recorder.flush()
    (record,) = access_records(caplog)
    assert record.levelno == logging.WARNING
    assert "status=502" in record.getMessage()
    assert f"backend={dead.split('://', 1)[1]}" in record.getMessage()
    assert "unreachable" in record.getMessage()


def test_a_client_chosen_model_name_cannot_break_the_line(tmp_path, fake, caplog):
    app = make_app(tmp_path, fake.url)
    key = add_key(app)
    caplog.set_level(logging.INFO, logger="ollama_gate.access")
    app.test_client().post(
        "/api/chat",
        json={**CHAT, "model": 'evil\nstatus=200 "x'},
        headers={"Authorization": f"Bearer {key}"},
    )
    app.extensions["ollama_gate"].recorder.flush()
    (record,) = access_records(caplog)
    assert "\n" not in record.getMessage()
    assert 'model="evil\\nstatus=200 \\"x"' in record.getMessage()


def test_a_browser_may_read_the_request_id(app, client, key):
    reply = client.get(
        "/api/tags",
        headers={"Authorization": f"Bearer {key}", "Origin": "http://localhost:3000"},
    )
    assert reply.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert reply.headers["Access-Control-Expose-Headers"] == "X-Request-ID"
    assert reply.headers["X-Request-ID"]
