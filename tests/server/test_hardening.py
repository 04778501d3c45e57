"""The serving layer against hostile connections (issue 16): slowloris heads, many
connections from one address, ambiguous body framing, malformed chunked bodies,
over-long header lines with the access log on."""

from __future__ import annotations

import hashlib
import socket
import time

import pytest
import requests

from ollama_gate.server.limits import ConnectionGuard, framing_problem
from tests.helpers.live import gateway_fixture

# a live gateway with a 1 s head deadline and a 1 s body deadline, 5 connections
# per address (loopback included) and its access log on
strict = gateway_fixture(
    "strict",
    {
        "OLLAMA_GATE_HEAD_TIMEOUT": "1",
        "OLLAMA_GATE_BODY_TIMEOUT": "1",
        "OLLAMA_GATE_MAX_CONNECTIONS_PER_CLIENT": "5",
        "OLLAMA_GATE_UNCAPPED_ADDRESSES": "",
        "OLLAMA_GATE_ACCESS_LOG": "1",
    },
)


def connect(gw) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
    return sock


def read_all(sock: socket.socket) -> bytes:
    out = b""
    try:
        while chunk := sock.recv(65536):
            out += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return out


def closed_by_peer(sock: socket.socket, wait: float) -> bool:
    """True when the other end closed (or reset) within ``wait`` seconds."""
    sock.settimeout(wait)
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_a_trickled_head_is_dropped_at_the_deadline(strict):
    sock = connect(strict)
    sock.sendall(b"GET /api/version HTTP/1.1\r\n")
    dropped = False
    for _ in range(30):  # one header byte every 0.2 s: never silent, never done
        try:
            sock.sendall(b"X")
        except (BrokenPipeError, ConnectionResetError):
            dropped = True
            break
        if closed_by_peer(sock, 0.2):
            dropped = True
            break
    sock.close()
    assert dropped, "a head trickled for 6 s was never dropped (deadline 1 s)"
    # and the worker serves everyone else meanwhile
    assert requests.get(strict.url + "/api/version", timeout=5).status_code in (
        200,
        401,
    )


def test_an_idle_keepalive_wait_is_not_a_slow_head(strict):
    """The deadline starts at a request's first byte, not while a connection waits."""
    key = strict.key("patient")
    with requests.Session() as session:
        h = {"Authorization": f"Bearer {key}"}
        assert session.get(strict.url + "/api/tags", headers=h).status_code == 200
        time.sleep(1.5)  # longer than the head deadline, idle between requests
        assert session.get(strict.url + "/api/tags", headers=h).status_code == 200


def test_connections_per_address_are_capped(strict):
    held = [connect(strict) for _ in range(5)]
    try:
        time.sleep(0.3)  # the worker has accepted them all
        extra = connect(strict)
        extra.settimeout(5)
        answer = read_all(extra)
        assert answer.startswith(b"HTTP/1.1 429"), answer[:100]
        extra.close()
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.3)
    assert requests.get(strict.url + "/api/version", timeout=5).status_code in (
        200,
        401,
    )


SMUGGLING = {
    "te_and_cl": b"POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "two_lengths": b"POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
    b"Content-Length: 40\r\n\r\n{}",
    "odd_length": b"POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Length: +2\r\n\r\n{}",
    "listed_length": b"POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 2"
    b"\r\n\r\n{}",
    "te_gzip": b"POST /api/chat HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked"
    b"\r\n\r\n0\r\n\r\n",
    "bare_cr": b"POST /api/chat HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\nContent-Length: 2"
    b"\r\n\r\n{}",
}


@pytest.mark.parametrize("case", list(SMUGGLING))
def test_ambiguous_framing_is_400_and_closed(strict, case):
    sock = connect(strict)
    sock.sendall(SMUGGLING[case] + b"GET /api/version HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = read_all(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert answer.count(b"HTTP/1.1 ") == 1  # nothing after it ran as a request


# RFC 9112 5.1: whitespace between a field name and its colon MUST be refused with
# 400; read leniently, ``Content-Length : 5`` was dropped and its body ran as the
# next request
SPACE_BEFORE_COLON = {
    "content_length_space": b"POST /api/version HTTP/1.1\r\nHost: x\r\n"
    b"Content-Length : 5\r\n\r\nhello",
    "foo_tab": b"GET /api/version HTTP/1.1\r\nHost: x\r\nFoo\t: x\r\n\r\n",
    "space_in_name": b"GET /api/version HTTP/1.1\r\nHost: x\r\nFoo Bar: x\r\n\r\n",
    "host_space": b"GET /api/version HTTP/1.1\r\nHost : x\r\n\r\n",
    "no_colon": b"GET /api/version HTTP/1.1\r\nHost: x\r\nContent-Length 5\r\n\r\n",
}


@pytest.mark.parametrize("case", list(SPACE_BEFORE_COLON))
def test_whitespace_before_a_header_colon_is_400_and_closed(strict, case):
    sock = connect(strict)
    sock.sendall(
        SPACE_BEFORE_COLON[case] + b"GET /api/version HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    answer = read_all(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert answer.count(b"HTTP/1.1 ") == 1  # nothing after it ran as a request


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the gateway sends until it closes; AssertionError if it never
    does (a generous 20 s, far past the 1 s deadline: no timing is asserted)."""
    sock.settimeout(20)
    out = b""
    try:
        while chunk := sock.recv(65536):
            out += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        raise AssertionError(
            f"the connection was never closed; got {out[:200]!r}"
        ) from None
    return out


def test_a_trickled_body_is_cut_at_the_body_deadline(strict):
    key = strict.key("trickler")
    for path, shape in (
        ("/api/chat", b'{"error":'),
        ("/v1/chat/completions", b'"type"'),
    ):
        sock = connect(strict)
        sock.sendall(
            b"POST "
            + path.encode()
            + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + key.encode()
            + b"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
        )
        answer = read_until_closed(sock)
        sock.close()
        assert answer.startswith(b"HTTP/1.1 408"), answer[:300]
        assert b"request body" in answer and shape in answer
    assert b"Traceback" not in strict.log_path.read_bytes()


def test_a_trickled_form_is_cut_at_the_body_deadline(strict):
    sock = connect(strict)
    sock.sendall(
        b"POST /admin/login HTTP/1.1\r\nHost: x\r\nContent-Type: "
        b"application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nname=r"
    )
    answer = read_until_closed(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:300]
    assert b"Traceback" not in strict.log_path.read_bytes()


def test_a_keyless_trickled_body_is_cut_after_its_refusal(strict):
    sock = connect(strict)
    sock.sendall(b"POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
    answer = read_until_closed(sock)  # the 401, then the unread body is not waited for
    sock.close()
    assert answer.startswith(b"HTTP/1.1 401"), answer[:300]
    assert answer.count(b"HTTP/1.1 ") == 1
    assert b"Traceback" not in strict.log_path.read_bytes()


def test_a_managers_blob_upload_may_take_longer_than_the_body_deadline(strict):
    """A model's blob may take minutes: an admitted upload has no body deadline."""
    key = strict.key("uploader", scopes="manage")
    digest = "sha256:" + hashlib.sha256(b"12345678").hexdigest()
    sock = connect(strict)
    sock.sendall(
        b"POST /api/blobs/" + digest.encode() + b" HTTP/1.1\r\nHost: x\r\n"
        b"Authorization: Bearer " + key.encode() + b"\r\nContent-Length: 8\r\n\r\n1234"
    )
    assert not closed_by_peer(sock, 1.5)  # past the 1 s deadline, still reading
    sock.sendall(b"5678")
    sock.settimeout(10)
    answer = sock.recv(65536)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 201"), answer[:300]


def test_a_malformed_chunked_body_is_400_not_500(strict):
    key = strict.key("chunky")
    sock = connect(strict)
    sock.sendall(
        b"POST /api/chat HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + key.encode()
        + b"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"zz\r\n{}\r\n0\r\n\r\n"
    )
    answer = read_all(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
    assert b"Traceback" not in strict.log_path.read_bytes()


def test_an_unread_body_after_a_refusal_never_runs_as_a_request(strict):
    smuggled = b"GET /api/tags HTTP/1.1\r\nHost: x\r\n\r\n"
    sock = connect(strict)
    sock.sendall(
        b"POST /api/chat HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer og_wrong\r\n"
        b"Content-Length: %d\r\n\r\n" % len(smuggled) + smuggled
    )
    sock.settimeout(3)
    answer = read_all(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 401")
    assert answer.count(b"HTTP/1.1 ") == 1


def test_an_over_long_header_line_with_the_access_log_on(strict):
    sock = connect(strict)
    sock.sendall(b"GET /api/version HTTP/1.1\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n")
    answer = read_all(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 400"), answer[:100]
    assert b"Traceback" not in strict.log_path.read_bytes()
    assert requests.get(strict.url + "/api/version", timeout=5).status_code in (
        200,
        401,
    )


def test_the_connection_guard_counts_and_releases():
    guard = ConnectionGuard(2, uncapped=["10.0.0.1"])
    assert guard.admit("a") and guard.admit("a") and not guard.admit("a")
    guard.release("a")
    assert guard.admit("a")
    assert all(guard.admit("10.0.0.1") for _ in range(10))  # the proxy: uncapped
    assert ConnectionGuard(0).admit("a")  # 0: no cap


def test_framing_problem_table():
    import http.client
    import io

    def parse(raw: bytes):
        return http.client.parse_headers(io.BytesIO(raw + b"\r\n"))

    assert framing_problem(parse(b"Content-Length: 12\r\n")) is None
    assert framing_problem(parse(b"Transfer-Encoding: chunked\r\n")) is None
    assert framing_problem(parse(b"Transfer-Encoding: Chunked\r\n")) is None
    assert "number" in framing_problem(parse(b"Content-Length: 0x5\r\n"))
    assert "together" in framing_problem(
        parse(b"Content-Length: 1\r\nTransfer-Encoding: chunked\r\n")
    )
