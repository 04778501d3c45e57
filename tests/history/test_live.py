"""History through a real gunicorn + gevent gateway: parallel streams, disconnects."""

from __future__ import annotations

import json
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import requests
from sqlalchemy import select

from ollama_gate.extensions import db
from ollama_gate.history.models import Request
from tests.fakes.ollama import expected_text

DEADLINE = 60.0  # generous: records are written in the background after the last byte


def wait_for_records(gateway, user: str, count: int) -> list[Request]:
    """Poll the gateway's database until ``user`` has ``count`` records (or timeout)."""
    end = time.monotonic() + DEADLINE
    while True:
        with gateway.app.app_context():
            rows = (
                db.session.execute(select(Request).where(Request.user_name == user))
                .scalars()
                .all()
            )
            db.session.expunge_all()
        if len(rows) >= count or time.monotonic() > end:
            return rows
        time.sleep(0.2)


def test_200_parallel_streams_leave_200_complete_records(gateway, fake):
    user = f"par-{uuid.uuid4().hex[:8]}"
    key = gateway.key(user)
    fake.hold_second_chunk = True  # every stream stays open until all 200 have started
    n = 200

    def one(i: int) -> str:
        body = {
            "model": "llama3.2",
            "stream": True,
            "options": {"num_predict": 12},
            "messages": [{"role": "user", "content": f"stream number {i}"}],
        }
        with requests.post(
            gateway.url + "/api/chat",
            json=body,
            stream=True,
            timeout=120,
            headers={"Authorization": f"Bearer {key}"},
        ) as resp:
            assert resp.status_code == 200
            lines = [json.loads(line) for line in resp.iter_lines() if line]
        return "".join(obj["message"]["content"] for obj in lines)

    with ThreadPoolExecutor(max_workers=n) as pool:
        futures = [pool.submit(one, i) for i in range(n)]
        end = time.monotonic() + DEADLINE
        while fake.streams_started < n and time.monotonic() < end:
            time.sleep(0.05)
        started = fake.streams_started
        fake.release.set()
        texts = [f.result() for f in futures]
    assert started == n, "the streams were not all open at once"
    assert texts == [expected_text(12)] * n
    rows = wait_for_records(gateway, user, n)
    assert len(rows) == n
    assert sorted(r.prompt_text for r in rows) == sorted(
        f"stream number {i}" for i in range(n)
    )
    for r in rows:
        assert (r.status, r.completed, r.disconnected, r.error) == (
            200,
            True,
            False,
            None,
        )
        assert r.answer_text == expected_text(12) and r.completion_tokens == 12
        assert r.streamed and r.done_reason == "length" and r.ttfb_ms <= r.total_ms
    assert len({r.id for r in rows}) == n


def test_disconnect_leaves_a_partial_record(gateway, fake):
    user = f"gone-{uuid.uuid4().hex[:8]}"
    key = gateway.key(user)
    fake.chunk_delay = 0.05
    addr = urlsplit(gateway.url)
    body = json.dumps(
        {
            "model": "llama3.2",
            "prompt": "a long story",
            "options": {"num_predict": 2000},
        }
    )
    sock = socket.create_connection((addr.hostname, addr.port))
    sock.sendall(
        (
            f"POST /api/generate HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            f"{body}"
        ).encode()
    )
    got = b""
    while got.count(b'"done":false') < 3:
        got += sock.recv(65536)
    sock.close()
    assert fake.disconnected.wait(15)
    rows = wait_for_records(gateway, user, 1)
    assert len(rows) == 1
    rec = rows[0]
    assert rec.disconnected and not rec.completed and rec.error is None
    assert rec.answer_text and expected_text(2000).startswith(rec.answer_text)
    assert len(rec.answer_text) < len(expected_text(2000)) and rec.prompt_text == (
        "a long story"
    )
    # no final statistics came: charged what was relayed, marked as an estimate
    assert rec.done_reason is None and rec.stats["estimated"] is True
    assert 3 <= rec.completion_tokens < 2000
    # the same record, by the key holder through the API and by the admin on the CLI
    mine = requests.get(
        gateway.url + "/gate/api/history", headers={"X-API-Key": key}, timeout=10
    ).json()["data"]
    assert [(m["id"], m["disconnected"], m["prompt"]) for m in mine] == [
        (rec.id, True, "a long story")
    ]
    exported = gateway.cli("history", "export", "--user", user).stdout.splitlines()
    assert [json.loads(line)["answer_text"] for line in exported] == [rec.answer_text]
