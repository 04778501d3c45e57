"""The relay's fast lane (the hub's callback sends a stream's middle pieces) through a
real gunicorn + gevent gateway: a client too slow to take them, an upstream that
stalls past the read timeout, many paced streams at once: every answer exact and
every call recorded as it ended."""

from __future__ import annotations

import json
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import requests

from tests.fakes.ollama import expected_text
from tests.helpers.live import gateway_fixture
from tests.history.test_live import wait_for_records

# a gateway whose read timeout is 1 s (a stalled stream fails quickly)
gate = gateway_fixture("gate", {"OLLAMA_GATE_READ_TIMEOUT": "1"})


def raw_generate(gate, key: str, tokens: int, rcvbuf: int | None = None):
    """A socket that has sent a streamed ``/api/generate`` of ``tokens`` tokens."""
    addr = urlsplit(gate.url)
    sock = socket.socket()
    if rcvbuf:  # set before connecting: the window is agreed at the handshake
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect((addr.hostname, addr.port))
    body = json.dumps(
        {"model": "llama3.2", "prompt": "p", "options": {"num_predict": tokens}}
    )
    sock.sendall(
        (
            f"POST /api/generate HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\n"
            "Connection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}"
        ).encode()
    )
    return sock


def dechunk(raw: bytes) -> bytes:
    """The body of a whole chunked HTTP/1.1 answer (asserting its framing)."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head, head
    body = b""
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            assert rest == b"\r\n", rest[:100]
            return body
        body += rest[:size]
        assert rest[size : size + 2] == b"\r\n"
        rest = rest[size + 2 :]


def test_a_client_too_slow_for_the_stream_gets_all_of_it_exactly(gate, fake):
    """The upstream sends faster than the client reads: the callback's sends fall
    short, the stream's greenlet waits for the client, and the pump goes on."""
    user = f"slow-{uuid.uuid4().hex[:8]}"
    tokens = 40_000  # about 5 MB of NDJSON: past the socket buffers (4 MB at most)
    sock = raw_generate(gate, gate.key(user), tokens, rcvbuf=4096)
    time.sleep(1.0)  # the client reads nothing while the gateway relays
    raw = b""
    with sock:
        while data := sock.recv(1024):
            raw += data
            if len(raw) < 64 * 1024:
                time.sleep(0.001)  # slowly at first
    lines = [json.loads(line) for line in dechunk(raw).splitlines()]
    assert len(lines) == tokens + 1 and lines[-1]["done"] is True
    assert "".join(obj["response"] for obj in lines) == expected_text(tokens)
    (row,) = wait_for_records(gate, user, 1)
    assert row.completed and not row.disconnected and row.completion_tokens == tokens


def test_a_stream_stalled_past_the_read_timeout_ends_with_an_error_line(gate, fake):
    user = f"stall-{uuid.uuid4().hex[:8]}"
    fake.hold_second_chunk = True  # the first token, then nothing
    try:
        with requests.post(
            gate.url + "/api/generate",
            json={"model": "llama3.2", "prompt": "p"},
            headers={"X-API-Key": gate.key(user)},
            stream=True,
            timeout=30,
        ) as resp:
            lines = [json.loads(line) for line in resp.iter_lines() if line]
    finally:
        fake.release.set()
    assert lines[0]["done"] is False
    assert lines[-1] == {"error": "upstream stream failed: ConnectionError"}
    (row,) = wait_for_records(gate, user, 1)
    assert not row.completed and "upstream stream failed" in row.error


def test_paced_streams_at_once_are_each_exact_and_recorded(gate, fake):
    user = f"paced-{uuid.uuid4().hex[:8]}"
    key = gate.key(user)
    fake.chunk_delay = 0.01
    n, tokens = 40, 30

    def one(i: int) -> str:
        with requests.post(
            gate.url + "/api/generate",
            json={
                "model": "llama3.2",
                "prompt": f"p{i}",
                "options": {"num_predict": tokens},
            },
            headers={"X-API-Key": key},
            stream=True,
            timeout=60,
        ) as resp:
            chunks = list(resp.iter_content(chunk_size=None))
        lines = [json.loads(line) for line in b"".join(chunks).splitlines()]
        assert lines[-1]["done"] is True and lines[-1]["eval_count"] == tokens
        return "".join(obj["response"] for obj in lines)

    with ThreadPoolExecutor(n) as pool:
        texts = list(pool.map(one, range(n)))
    assert texts == [expected_text(tokens)] * n
    rows = wait_for_records(gate, user, n)
    assert len(rows) == n
    assert all(r.completed and r.completion_tokens == tokens for r in rows)
