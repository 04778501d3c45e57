"""The serving layer (ollama_gate/server/): gevent's pywsgi server under gunicorn, with
an idle timeout taken from gunicorn's keep-alive setting, and fewer writes per
answer."""

from __future__ import annotations

import http.client
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from unittest import mock
from urllib.parse import urlsplit

import pytest
import requests

from ollama_gate.call import Call
from ollama_gate.proxy.relay import Relay
from ollama_gate.server.handler import GateHandler
from ollama_gate.server.headers import parse_headers
from ollama_gate.upstream import LastPiece, Upstream, iter_available
from tests.helpers.live import LiveGateway, gateway_fixture

# a gateway whose idle connections are closed after one second
quick_idle = gateway_fixture("quick_idle", {"GUNICORN_CMD_ARGS": "--keep-alive 1"})


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


@pytest.mark.parametrize(
    "raw, status",
    [
        (  # more header lines than http.client's parser takes
            b"GET /api/version HTTP/1.1\r\nHost: gate\r\n"
            + b"".join(b"X-H%d: v\r\n" % i for i in range(150))
            + b"\r\n",
            b"400",
        ),
        (
            b"GET /api/version HTTP/1.1\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n",
            b"400",
        ),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: gate\r\n\r\n", b"414"),
        (b"\x00\x01garbage\r\n\r\n", b"400"),
    ],
    ids=["150-headers", "70k-header", "9k-target", "garbage"],
)
def test_malformed_http_is_refused_and_the_worker_serves_on(quick_idle, raw, status):
    addr = urlsplit(quick_idle.url)
    with socket.create_connection((addr.hostname, addr.port), timeout=10) as sock:
        sock.sendall(raw)
        reply = b""
        while piece := sock.recv(65536):  # the server closes after refusing
            reply += piece
    assert reply.startswith(b"HTTP/1.1 " + status), reply[:200]
    ok = requests.get(
        quick_idle.url + "/api/version",
        headers={"X-API-Key": quick_idle.key()},
        timeout=10,
    )
    assert ok.status_code == 200 and "version" in ok.json()


def test_no_access_log_unless_asked(quick_idle):
    """Off by default (``OLLAMA_GATE_ACCESS_LOG``): calls leave no gunicorn request
    lines (the gateway's own call lines are ``call id=...``); the Redis tests read the
    lines a gateway with it on writes."""
    key = quick_idle.key()
    for _ in range(3):
        reply = requests.get(
            quick_idle.url + "/api/tags", headers={"X-API-Key": key}, timeout=10
        )
        assert reply.status_code == 200
    for _ in range(200):  # the call log is on by default: wait for its 3 lines
        log = quick_idle.log_path.read_text()
        if log.count("endpoint=/api/tags") >= 3:
            break
        time.sleep(0.05)
    assert "Booting worker" in log  # the log is written, just without requests
    assert '"GET /api/tags' not in log and "GET /" not in log
    assert log.count("endpoint=/api/tags") >= 3


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


HEADER_SECTIONS = {
    "usual": b"Host: gate\r\nUser-Agent: ollama-python/0.4\r\nAccept: */*\r\n"
    b"Content-Type: application/json\r\nX-API-Key: og_abc\r\nContent-Length: 2\r\n\r\n",
    "lf-only, no space, trailing blanks": b"Host:gate\nX-A:  spaced  \n\n",
    "empty value, repeated names": b"X-Empty:\r\nX-Dup: 1\r\nx-dup: 2\r\n\r\n",
    "obs-text and tab": b"X-Name: caf\xe9\tbar\r\n\r\n",
    "folded line": b"X-Long: one\r\n two\r\nHost: gate\r\n\r\n",
    "bare CR in a value": b"X-A: a\rX-B: b\r\nHost: gate\r\n\r\n",
    "space before the colon": b"Content-Length : 5\r\nHost: gate\r\n\r\n",
    "line without a colon": b"Host: gate\r\nnonsense\r\nX-After: 1\r\n\r\n",
    "empty name": b": nameless\r\nHost: gate\r\n\r\n",
    "no headers": b"\r\n",
    "cut short": b"Host: gate\r\nX-A: 1\r\n",
}


def _read_by_handler(data: bytes):
    """A request's headers as pywsgi reads them in the worker, where ``wsgi.py`` has
    given ``http.client`` the gateway's reader."""
    from gevent.pywsgi import headers_factory

    with mock.patch.object(http.client, "parse_headers", parse_headers):
        return headers_factory(io.BytesIO(data))


@pytest.mark.parametrize("section", HEADER_SECTIONS.values(), ids=HEADER_SECTIONS)
def test_request_headers_read_as_pywsgi_reads_them(section):
    """The worker's reader skips the email parser for plain lines; whatever the
    section, pywsgi sees the same headers as from ``http.client``'s own."""
    from gevent.pywsgi import headers_factory

    ours = _read_by_handler(section + b"BODY")
    theirs = headers_factory(io.BytesIO(section + b"BODY"))
    assert type(ours) is type(theirs)
    assert ours.items() == theirs.items()
    assert list(ours.headers) == list(theirs.headers)  # what pywsgi's environ is from
    assert (ours.status, ours.typeheader) == (theirs.status, theirs.typeheader)
    assert [type(d) for d in ours.defects] == [type(d) for d in theirs.defects]


@pytest.mark.parametrize("section", HEADER_SECTIONS.values(), ids=HEADER_SECTIONS)
def test_answer_heads_read_as_http_client_reads_them(section):
    """The worker gives http.client (the upstream's answers) the same reader."""
    theirs_fp, ours_fp = io.BytesIO(section + b"BODY"), io.BytesIO(section + b"BODY")
    theirs = http.client.parse_headers(theirs_fp)  # the test process is not patched
    ours = parse_headers(ours_fp)
    assert type(ours) is type(theirs) is http.client.HTTPMessage
    assert ours.items() == theirs.items()
    assert ours_fp.tell() == theirs_fp.tell()  # both stop at the same place


def test_header_limits_as_http_client_and_pywsgi_apply_them():
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(101)) + b"\r\n"
    for read in (_read_by_handler, lambda data: parse_headers(io.BytesIO(data))):
        with pytest.raises(http.client.HTTPException, match="more than 100 headers"):
            read(many)
    long = b"X-Long: " + b"a" * 70_000 + b"\r\n\r\n"
    assert _read_by_handler(long).status == "Line too long"  # pywsgi answers 400
    with pytest.raises(http.client.LineTooLong):
        parse_headers(io.BytesIO(long))


def test_the_worker_reads_answer_heads_with_it(tmp_path):
    """wsgi.py puts the reader in http.client for the worker (checked in a child
    process: importing wsgi.py applies gevent's patching)."""
    code = (
        "import http.client, wsgi, ollama_gate.server.headers as h;"
        "print(http.client.parse_headers is h.parse_headers)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parent.parent.parent,
        env={
            **os.environ,
            "OLLAMA_GATE_HEAP_TRIM_SECONDS": "0",
            "OLLAMA_GATE_SECRET_KEY": "worker-test",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'worker.db'}",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stdout.strip().splitlines()[-1] == "True", out.stderr[-2000:]


class _NoAccessLog:
    """The part of gunicorn's logger the handler asks: the access log is off."""

    access_log_enabled = False


NO_ACCESS_LOG = _NoAccessLog()


def _writes_of(
    app,
    request: bytes = b"GET / HTTP/1.1\r\nHost: gate\r\nConnection: close\r\n\r\n",
    timeout: float = 5,
) -> tuple[list[bytes], bytes]:
    """Serve ``request`` to ``app`` with the gateway's handler on a real pywsgi server:
    every ``sendall`` the handler made, and the bytes the client received before the
    server closed the connection."""
    from gevent import pywsgi
    from gevent import socket as gsocket

    writes: list[bytes] = []

    class Recording(GateHandler):
        def _sendall(self, data):
            writes.append(bytes(data))
            super()._sendall(data)

    server = pywsgi.WSGIServer(("127.0.0.1", 0), app, handler_class=Recording, log=None)
    server.log = NO_ACCESS_LOG  # gunicorn's logger, as the gateway runs it by default
    server.start()
    try:
        with gsocket.create_connection(("127.0.0.1", server.server_port)) as sock:
            sock.settimeout(timeout)  # a server that keeps the connection open: error
            sock.sendall(request)
            received = b""
            while piece := sock.recv(65536):
                received += piece
    finally:
        server.stop()
    return writes, received


def _streaming_app(pieces):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/x-ndjson")])
        return iter(pieces)  # no length: sent chunked

    return app


def test_head_leaves_with_the_first_piece_and_the_last_piece_ends_the_body():
    writes, received = _writes_of(_streaming_app([b"one\n", LastPiece(b"two\n")]))
    assert len(writes) == 2
    assert writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert writes[0].endswith(b"\r\n\r\n4\r\none\n\r\n")
    assert writes[1] == b"4\r\ntwo\n\r\n0\r\n\r\n"
    assert received == b"".join(writes)  # nothing more: the body ended once


def test_a_stream_without_a_marked_last_piece_is_ended_after_it():
    writes, received = _writes_of(_streaming_app([b"one\n", b"two\n"]))
    assert writes[1:] == [b"4\r\ntwo\n\r\n", b"0\r\n\r\n"]
    assert received.endswith(b"4\r\none\n\r\n4\r\ntwo\n\r\n0\r\n\r\n")


def test_a_stream_to_an_http10_client_ends_by_closing_even_if_kept_alive():
    """HTTP/1.0 has no chunks: the end of a body of unknown length is the end of the
    connection, whatever ``Connection: keep-alive`` the client sent."""
    writes, received = _writes_of(
        _streaming_app([b"one\n", b"two\n"]),
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    )
    head, _, body = received.partition(b"\r\n\r\n")
    assert b"Connection: close" in head and b"keep-alive" not in head
    assert b"Transfer-Encoding" not in head
    assert body == b"one\ntwo\n"  # unframed, and the server closed after it


def test_a_whole_answer_to_an_http10_client_stays_kept_alive():
    def whole(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]

    request = b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    with pytest.raises(TimeoutError):  # still open after the answer: kept alive
        _writes_of(whole, request, timeout=0.5)


def test_a_whole_answer_and_an_empty_one_are_one_write_each():
    def whole(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"ok":true}']

    writes, received = _writes_of(whole)
    assert len(writes) == 1 and writes[0] == received
    assert b"Content-Length: 11\r\n" in received
    assert received.endswith(b'\r\n\r\n{"ok":true}')

    def empty(environ, start_response):
        start_response("200 OK", [])
        return _streaming_app([])(environ, lambda *a: None)

    writes, received = _writes_of(empty)
    # an empty chunked body: the head, then the end of the body
    assert writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"".join(writes).endswith(b"\r\n\r\n0\r\n\r\n")
    assert received == b"".join(writes)


class _Raw:
    """Just enough of urllib3's chunked response for ``iter_available``: each read
    returns the next of ``reads``."""

    chunked = True

    def __init__(self, reads: list[bytes]):
        self._original_response = self
        self.fp = self
        self.reads = list(reads)

    def read1(self, n: int) -> bytes:
        return self.reads.pop(0)

    def close(self) -> None:
        pass


def _upstream_answer(reads: list[bytes]):
    resp = requests.Response()
    resp.raw = _Raw(reads)
    return resp


def test_upstream_marks_the_piece_that_came_with_the_end_of_the_body():
    """``iter_available`` marks a piece ``LastPiece`` only when the end of the chunked
    body was read with it; other pieces stay plain bytes."""
    together = list(
        iter_available(
            _upstream_answer([b"4\r\none\n\r\n", b"4\r\ntwo\n\r\n0\r\n\r\n"])
        )
    )
    assert together == [b"one\n", b"two\n"]
    assert [type(p) is LastPiece for p in together] == [False, True]
    apart = list(iter_available(_upstream_answer([b"4\r\none\n\r\n", b"0\r\n\r\n"])))
    assert apart == [b"one\n"] and type(apart[0]) is bytes


def test_the_last_piece_still_goes_when_the_end_of_the_body_never_comes():
    """The zero chunk came, the line after it did not: the data already read is
    passed on, then the failure, as ``iter_content`` reports it."""

    class Stalled(_Raw):
        def read1(self, n: int) -> bytes:
            if self.reads:
                return self.reads.pop(0)
            raise TimeoutError("timed out")  # the read for the rest of the trailers

    resp = requests.Response()
    resp.raw = Stalled([b'e\r\n{"done":true}\n\r\n0\r\n'])
    pieces = iter_available(resp)
    assert next(pieces) == b'{"done":true}\n'
    with pytest.raises(requests.ConnectionError):
        next(pieces)


def _generate_call() -> Call:
    """A ``POST /api/generate`` record, as the relay fills it in (no key needed)."""
    return Call(
        identity=None,
        method="POST",
        path="/api/generate",
        upstream_path="/api/generate",
        endpoint="/api/generate",
    )


def test_a_call_is_finished_before_its_last_piece_is_handed_to_the_server():
    """The server ends the client's body with the last piece, so the call's slots must
    be free by then: a client capped at one call may send its next one at once."""
    call = _generate_call()
    seen = []

    def finish(c: Call) -> None:
        c.finished = True

    answer = _upstream_answer([b"4\r\none\n\r\n", b"4\r\ntwo\n\r\n0\r\n\r\n"])
    for piece in Relay(answer, call, finish):
        seen.append((bytes(piece), call.finished, call.completed))
    assert seen == [(b"one\n", False, False), (b"two\n", True, True)]
    assert call.body == b"one\ntwo\n" and not call.disconnected


class _OneWriteUpstream:
    """A raw HTTP/1.1 server that answers every request on a connection with one
    chunked NDJSON stream sent in a single write, its end included (how a busy Ollama's
    answer can arrive); it counts the connections it accepted."""

    ANSWER = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
        b'f\r\n{"response":1}\n\r\n'
        b'e\r\n{"done":true}\n\r\n0\r\n\r\n'
    )

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn):
        with conn:
            data = b""
            while True:
                while b"\r\n\r\n" not in data:
                    piece = conn.recv(65536)
                    if not piece:
                        return
                    data += piece
                head, _, data = data.partition(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r")[0])
                while len(data) < length:
                    data += conn.recv(65536)
                data = data[length:]
                conn.sendall(self.ANSWER)


def test_a_stream_ended_with_its_last_piece_leaves_the_connection_pooled():
    """Reading the upstream to its end before the last piece is handed on: the relay
    closes the answer at that piece, and the connection must go back to the pool."""
    upstream = _OneWriteUpstream()
    try:
        pool = Upstream(upstream.url, 5, 5, 4)
        for _ in range(3):
            call = _generate_call()
            resp = pool.send("POST", "/api/generate", {}, b"{}")
            pieces = list(Relay(resp, call, lambda c: setattr(c, "finished", True)))
            assert type(pieces[-1]) is LastPiece  # the end came with the last piece
            assert b"".join(pieces) == b'{"response":1}\n{"done":true}\n'
            assert call.completed
        assert upstream.accepted == 1  # one connection served all three
    finally:
        upstream.sock.close()


def test_a_loopback_upstream_connection_is_used_at_once():
    """A handshake that is over when the connect returns is not waited for (gevent
    would queue the greenlet behind every other); a refused one still raises."""
    from gevent import socket as gsocket

    from ollama_gate.upstream.connection import _connected_at_once

    listener = socket.create_server(("127.0.0.1", 0))
    try:
        sock = gsocket.socket()
        sock.settimeout(5)
        assert _connected_at_once(sock, listener.getsockname())
        assert sock.getpeername() == listener.getsockname()
        sock.close()
        closed_port = listener.getsockname()
    finally:
        listener.close()
    refused = gsocket.socket()
    refused.settimeout(5)
    assert not _connected_at_once(refused, closed_port)
    with pytest.raises(ConnectionRefusedError):
        refused.connect(closed_port)  # what the upstream client does next
    refused.close()
    plain = socket.socket()  # not gevent's: left to its own blocking connect
    assert not _connected_at_once(plain, closed_port)
    plain.close()


def test_a_gateway_whose_upstream_is_down_answers_502(tmp_path):
    """Under gunicorn's gevent worker (the connect path above): a refused upstream
    connection is Ollama's JSON error with 502, and the worker serves on."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        down = f"http://127.0.0.1:{probe.getsockname()[1]}"  # closed when the test runs
    gw = LiveGateway(tmp_path, down).start()
    try:
        key = gw.key()
        for _ in range(2):
            reply = requests.post(
                gw.url + "/api/generate",
                json={"model": "llama3.2", "prompt": "Hi"},
                headers={"X-API-Key": key},
                timeout=10,
            )
            assert reply.status_code == 502
            assert "unreachable" in reply.json()["error"]
    finally:
        gw.stop()


def test_an_idle_kept_alive_connection_keeps_nothing_of_its_last_request():
    """Between two calls the handler holds no environ, head or answer's headers."""
    from gevent import pywsgi, sleep
    from gevent import socket as gsocket

    from ollama_gate.server.handler import PER_REQUEST

    handlers = []

    class Watched(GateHandler):
        def __init__(self, *args):
            super().__init__(*args)
            handlers.append(self)

    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    server = pywsgi.WSGIServer(("127.0.0.1", 0), app, handler_class=Watched, log=None)
    server.log = NO_ACCESS_LOG
    server.start()
    try:
        with gsocket.create_connection(("127.0.0.1", server.server_port)) as sock:
            sock.settimeout(5)
            sock.sendall(
                b"GET /one HTTP/1.1\r\nHost: gate\r\nX-Big: " + b"x" * 900 + b"\r\n\r\n"
            )
            assert sock.recv(65536).endswith(b"\r\n\r\nok")
            for _ in range(50):  # the handler reaches its wait for the next request
                if handlers and handlers[0] in GateHandler.idle:
                    break
                sleep(0.01)
            (handler,) = handlers
            assert handler in GateHandler.idle
            held = {name: handler.__dict__.get(name) for name in PER_REQUEST}
            assert held == dict.fromkeys(PER_REQUEST)
            sock.sendall(
                b"GET /two HTTP/1.1\r\nHost: gate\r\nConnection: close\r\n\r\n"
            )
            assert sock.recv(65536).endswith(b"\r\n\r\nok")  # the next is served alike
    finally:
        server.stop()
