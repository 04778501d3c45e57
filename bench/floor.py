"""The design card's floor: the cheapest relays its stack allows, no gateway in them.

Run beside nginx and the gateway (``bench/run.py --paced --floor``) to show how much of
a paced stream's CPU is the stack itself (gunicorn, gevent's pywsgi, Flask, requests)
and how much is the gateway's own work (keys, limits, routing, the record):

- ``floor_wsgi``: a bare WSGI callable under gunicorn's ``gevent_pywsgi`` worker. It
  writes the request to a kept-alive upstream socket, reads the answer's head, undoes
  the chunked framing and yields each token's bytes as they come: no Flask, no
  requests, no checks. The least a WSGI app under gunicorn and gevent can cost.
- ``floor_flask``: the same relay as the card would write it in the plainest way: a
  Flask route, ``requests`` with ``stream=True`` on a pooled session,
  ``iter_content(None)`` into a streamed response.

Both ignore the API key; neither is safe to run anywhere but this bench.
"""

from __future__ import annotations

import os
import socket

UPSTREAM = os.environ.get("FLOOR_UPSTREAM", "127.0.0.1:11434")
HOST, _, PORT = UPSTREAM.partition(":")
_idle: list[socket.socket] = []  # kept-alive upstream sockets of this worker


def _request(environ) -> bytes:
    """The client's request re-sent upstream: method, path, type and body."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    target = environ.get("PATH_INFO", "/")
    if environ.get("QUERY_STRING"):
        target += "?" + environ["QUERY_STRING"]
    head = (
        f"{environ['REQUEST_METHOD']} {target} HTTP/1.1\r\nHost: {UPSTREAM}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _dechunk(sock: socket.socket, buf: bytes):
    """Yield the body of a chunked answer, one piece per chunk as it arrives."""
    while True:
        while b"\r\n" not in buf:
            buf += sock.recv(65536)
        size_line, _, buf = buf.partition(b"\r\n")
        size = int(size_line.split(b";", 1)[0], 16)
        while len(buf) < size + 2:
            more = sock.recv(65536)
            if not more:
                raise ConnectionError("upstream closed mid-chunk")
            buf += more
        if size == 0:
            return
        yield buf[:size]
        buf = buf[size + 2 :]


def app_wsgi(environ, start_response):
    """The bare relay: raw socket upstream, chunks yielded as they come."""
    sock = _idle.pop() if _idle else socket.create_connection((HOST, int(PORT)))
    sock.sendall(_request(environ))
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(65536)
    head, _, buf = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(" ", 1)[1]
    headers = dict(line.split(": ", 1) for line in lines[1:])
    ctype = headers.get("Content-Type", "application/json")
    if "Content-Length" in headers:
        size = int(headers["Content-Length"])
        while len(buf) < size:
            buf += sock.recv(65536)
        _idle.append(sock)
        start_response(status, [("Content-Type", ctype), ("Content-Length", str(size))])
        return [buf[:size]]
    start_response(status, [("Content-Type", ctype)])

    def body():
        yield from _dechunk(sock, buf)
        _idle.append(sock)  # whole answer read: the socket is clean for the next

    return body()


def _flask_app():
    import flask
    import requests

    app = flask.Flask(__name__)
    session = requests.Session()
    session.mount(
        "http://", requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=4000)
    )

    @app.route("/<path:path>", methods=["GET", "POST"])
    def relay(path):
        up = session.request(
            flask.request.method,
            f"http://{UPSTREAM}/{path}",
            data=flask.request.get_data(),
            headers={"Content-Type": "application/json"},
            stream=True,
        )
        ctype = up.headers.get("Content-Type", "application/json")
        return flask.Response(
            up.iter_content(None), status=up.status_code, content_type=ctype
        )

    return app


app_flask = _flask_app() if os.environ.get("FLOOR_APP") == "flask" else None
