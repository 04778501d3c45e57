"""The serving layer (gunicorn.conf.py): gevent's pywsgi server under gunicorn, with
an idle timeout taken from gunicorn's keep-alive setting."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import pytest
from conftest import LiveGateway


@pytest.fixture(scope="module")
def quick_idle(tmp_path_factory, fake_server):
    """A gateway whose idle connections are closed after one second."""
    gw = LiveGateway(
        tmp_path_factory.mktemp("idle"),
        fake_server.url,
        env={"GUNICORN_CMD_ARGS": "--keep-alive 1"},
    ).start()
    yield gw
    gw.stop()


def request(key: str, body: dict) -> bytes:
    data = json.dumps(body).encode()
    return (
        b"POST /api/generate HTTP/1.1\r\nHost: gate\r\n"
        + b"Content-Type: application/json\r\n"
        + f"X-API-Key: {key}\r\nContent-Length: {len(data)}\r\n\r\n".encode()
        + data
    )


def read_response(sock: socket.socket) -> bytes:
    """One whole response with a Content-Length, read off a keep-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(
            line.split(b":", 1)[1]
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head


def test_idle_keep_alive_connection_is_closed(quick_idle):
    addr = urlsplit(quick_idle.url)
    key = quick_idle.key()
    body = {"model": "llama3.2", "prompt": "Hi", "stream": False}
    with socket.create_connection((addr.hostname, addr.port), timeout=10) as sock:
        sock.sendall(request(key, body))
        assert read_response(sock).startswith(b"HTTP/1.1 200")
        sock.sendall(request(key, body))  # kept alive while it is used
        assert read_response(sock).startswith(b"HTTP/1.1 200")
        start = time.monotonic()
        assert sock.recv(1) == b""  # then closed by the gateway, not by the test
        assert time.monotonic() - start < 9


def test_a_slow_stream_outlives_the_idle_timeout(quick_idle, fake):
    """Waiting for the upstream is not idling: a 1.5 s gap between tokens is kept."""
    fake.chunk_delay = 1.5
    addr = urlsplit(quick_idle.url)
    body = {"model": "llama3.2", "prompt": "Hi", "options": {"num_predict": 2}}
    with socket.create_connection((addr.hostname, addr.port), timeout=10) as sock:
        sock.sendall(request(quick_idle.key(), body))
        reply = b""
        while not reply.endswith(b"0\r\n\r\n"):
            piece = sock.recv(65536)
            assert piece, f"closed mid-stream after {reply!r}"
            reply += piece
    assert reply.startswith(b"HTTP/1.1 200")
    lines = [  # the NDJSON lines, from the chunks between the chunk sizes
        json.loads(line)
        for piece in reply.split(b"\r\n")
        if piece.startswith(b"{")
        for line in piece.splitlines()
    ]
    assert lines[-1]["done"] is True and len(lines) == 3
