"""Upstream faults, from a raw socket server that misbehaves on purpose: each gives
the right status or a final error line, frees the call's slot and its connection,
and is recorded (issue 16)."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from ollama_gate.extensions import db
from ollama_gate.history.models import Request
from tests.helpers.keys import add_key
from tests.proxy.test_errors import make_app

HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)
LINE = b'{"model":"m","response":"a","done":false}\n'


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def reset(conn: socket.socket) -> None:
    """Close with RST, as a crashed server does."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00" * 2)
    conn.close()


FAULTS = {
    # name: (what the server does with a connection, expected status, stream line)
    "refused_mid_accept": (lambda c: reset(c), 502, None),
    "closed_before_answer": (lambda c: c.close(), 502, None),
    "garbage": (
        lambda c: (c.sendall(b"SSH-2.0-OpenSSH\r\n\r\n"), c.close()),
        502,
        None,
    ),
    "hang_before_first_byte": (lambda c: time.sleep(3), 504, None),
    "5xx_answer": (
        lambda c: c.sendall(
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
            b'Content-Length: 17\r\n\r\n{"error":"boom!"}'
        ),
        500,
        None,
    ),
    # passed on as it is: the gateway follows no redirect (and retries nothing)
    "redirect_answer": (
        lambda c: c.sendall(
            b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/api/x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        ),
        302,
        None,
    ),
    "non_json_answer": (
        lambda c: c.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
            b"Content-Length: 13\r\n\r\n<html>x</html"
        ),
        200,
        None,
    ),
    "reset_mid_stream": (
        lambda c: (c.sendall(HEAD + chunk(LINE) + b'40\r\n{"mod'), reset(c)),
        200,
        "upstream stream failed",
    ),
    "hang_between_chunks": (
        lambda c: (c.sendall(HEAD + chunk(LINE)), time.sleep(3)),
        200,
        "upstream stream failed",
    ),
    "bad_chunk_size": (
        lambda c: (c.sendall(HEAD + chunk(LINE) + b"zz\r\n"), time.sleep(0.5)),
        200,
        "upstream stream failed",
    ),
}


class BadUpstream:
    """Accepts connections and hands each to ``behave``; answers nothing else."""

    def __init__(self, behave):
        self.behave = behave
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn):
        try:
            conn.recv(65536)  # the request
            self.behave(conn)
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def close(self):
        self.sock.close()


@pytest.mark.parametrize("fault", list(FAULTS))
def test_each_upstream_fault_is_answered_released_and_recorded(tmp_path, fault):
    behave, status, line = FAULTS[fault]
    upstream = BadUpstream(behave)
    app = make_app(tmp_path, BACKENDS=[upstream.url], READ_TIMEOUT=1.0)
    key = add_key(app, max_concurrency=1)
    client = app.test_client()
    try:
        for _ in range(2):  # the second call proves the slot was given back
            resp = client.post(
                "/api/generate",
                headers={"Authorization": f"Bearer {key}"},
                json={"model": "m", "prompt": "p"},
            )
            body = resp.get_data()
            assert resp.status_code == status, body[:200]
            if line:
                last = json.loads(body.strip().splitlines()[-1])
                assert line in last["error"]
            elif status >= 502:
                assert resp.get_json()["error"]
        app.extensions["ollama_gate"].recorder.flush()
        with app.app_context():
            rows = db.session.execute(db.select(Request.status, Request.error)).all()
        assert [r.status for r in rows] == [status, status]
        if line or status >= 502:
            assert all(r.error for r in rows)
        pool = app.extensions["ollama_gate"].upstream.pool
        assert pool.num_requests >= 0 and pool.pool.qsize() == pool.pool.maxsize
    finally:
        upstream.close()
        with app.app_context():
            db.engine.dispose()


def keep_alive_once(conn: socket.socket) -> None:
    """Answer one request kept alive, then close when the next one arrives: what a
    server whose idle timeout ran out just after the pool's liveness check does."""
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b'Content-Length: 11\r\nConnection: keep-alive\r\n\r\n{"done":1}\n'
    )
    conn.recv(65536)  # the next request on this connection: close instead of answering


@pytest.mark.parametrize("stream", [False, True])
def test_a_stale_pooled_connection_is_retried_not_a_502(tmp_path, stream):
    """Issue 16 (found by fuzzing): the next call on a connection the backend had
    closed got a 502."""
    upstream = BadUpstream(keep_alive_once)
    app = make_app(tmp_path, BACKENDS=[upstream.url])
    key = add_key(app)
    client = app.test_client()
    body = {"model": "m", "prompt": "p", "stream": stream}
    try:
        statuses = []
        for _ in range(4):
            resp = client.post(
                "/api/generate", headers={"Authorization": f"Bearer {key}"}, json=body
            )
            resp.get_data()
            statuses.append(resp.status_code)
        assert statuses == [200] * 4
    finally:
        upstream.close()
        with app.app_context():
            db.engine.dispose()
