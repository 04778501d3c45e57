"""The HTTP handler: gevent's pywsgi as gunicorn runs it, with the gateway's writes."""

from __future__ import annotations

import socket
from urllib.parse import unquote, urlsplit

from gunicorn.workers.ggevent import PyWSGIHandler

from ..remote import normal_ip
from .body import BodyInput, bound_body
from .limits import (
    TOO_MANY,
    ConnectionGuard,
    HeadTimeout,
    framing_problem,
    head_deadline,
)

REQUEST_BUFFER = 2048  # bytes of a connection's request reader (pywsgi's: 8192)
PER_REQUEST = ("environ", "headers", "response_headers", "result", "wsgi_input")


class GateHandler(PyWSGIHandler):
    """gevent's own HTTP server (pywsgi) as gunicorn runs it, with two things that
    gunicorn's parser did: an idle timeout, and absolute-form request targets routed
    by their path.

    About 10% less CPU a call than gunicorn's ``gevent`` worker (bench/); fewer writes
    than pywsgi's: the head leaves with the first piece of body, a stream's last
    piece (``LastPiece``) with the end of the chunked body.
    """

    idle_timeout = 75.0  # set from gunicorn's ``keepalive`` by ``GateWorker``
    # both set from the settings by ``tune.tune_worker`` (else no deadline, no cap)
    head_timeout = 0.0
    body_timeout = 0.0  # seconds from the end of a head to the end of its body
    guard = ConnectionGuard(0)
    body_ended = False  # the chunked body's end has been sent (with a ``LastPiece``)
    # graceful shutdown: kept-alive connections end after their answer, idle ones are
    # closed (``drain``), else one idle client holds the worker to graceful_timeout
    draining = False
    idle: set = set()  # the handlers now waiting for a connection's next request
    _deadline = None  # the head timer, from a request's first byte to its head's end

    def __init__(self, sock, address, server, rfile=None):
        # pywsgi's request reader has an 8 KB buffer, kept for the connection's life;
        # a usual head is well under 2 KB (a longer takes more reads; bodies are read
        # past the buffer in any case)
        if rfile is None:
            rfile = sock.makefile("rb", REQUEST_BUFFER)
        super().__init__(sock, address, server, rfile)
        # the non-blocking socket under gevent's, for sends that need no wait
        raw = getattr(sock, "_sock", None)
        self._raw = raw if raw is not None and raw.gettimeout() == 0.0 else None

    def handle(self):
        """Serve the connection's requests; none may wait idle past the timeout."""
        peer = self.client_address[0] if self.client_address else ""
        address = normal_ip(peer) or peer  # under [::], IPv4 peers as IPv4
        if not self.guard.admit(address):
            self._sendall(TOO_MANY)  # one address holds too many connections
            return
        try:
            self.socket.settimeout(self.idle_timeout or None)  # keepalive 0: no limit
            super().handle()
        finally:
            self.guard.release(address)

    @classmethod
    def drain(cls) -> None:
        """The worker is stopping: close every connection idle between requests."""
        cls.draining = True
        for handler in list(cls.idle):
            try:
                handler.socket.shutdown(socket.SHUT_RD)  # its wait reads the end
            except OSError:
                pass

    def read_requestline(self):
        """The request line; from its first byte, the head has ``head_timeout``."""
        if self.draining:
            return ""
        self.idle.add(self)
        try:
            arrived = self.rfile.peek(1)  # waits under the idle timeout, as before
        finally:
            self.idle.discard(self)
        if not arrived:
            return ""
        if b"\r\n\r\n" not in arrived:  # the usual head comes whole: no timer
            self._deadline = head_deadline(self.head_timeout)
        return super().read_requestline()

    def read_request(self, raw_requestline):
        """pywsgi's, within the head deadline, refusing ambiguous body framing."""
        try:
            return super().read_request(raw_requestline)
        except HeadTimeout:  # a client error (400, no traceback), not a server one
            raise ValueError("request head too slow") from None
        finally:
            self._end_deadline()

    def MessageClass(self, fp, *args):  # noqa: N802 (pywsgi's name)
        """The header section, refused (400, closed) when its framing is ambiguous."""
        headers = super().MessageClass(fp, *args)
        problem = None if headers.status else framing_problem(headers)
        if problem:
            raise ValueError(f"ambiguous request framing: {problem}")
        return headers

    def handle_one_response(self):
        """pywsgi's; a body cut at its deadline ends the connection (where the next
        request would begin is not known)."""
        super().handle_one_response()
        if isinstance(self.wsgi_input, BodyInput) and self.wsgi_input.timed_out:
            self.close_connection = True

    def handle_one_request(self):
        """pywsgi's; a failed head leaves no timer, and an idle kept-alive
        connection nothing of its last request (3-4 KB of 26: bench/memory.py)."""
        try:
            result = super().handle_one_request()
        finally:
            self._end_deadline()
        if result is True:  # pywsgi's per-request state: the next sets each anew
            for name in PER_REQUEST:
                self.__dict__.pop(name, None)  # back to pywsgi's class default
        return result

    def _end_deadline(self):
        if self._deadline is not None:
            self._deadline.close()
            self._deadline = None

    def finalize_headers(self):
        """pywsgi's; and an HTTP/1.0 answer of unknown length (it cannot be chunked)
        ends by closing the connection, whatever keep-alive the client asked for."""
        super().finalize_headers()
        if self.draining:  # the last answer on this connection
            self.close_connection = True
            if not any(k.lower() == b"connection" for k, _ in self.response_headers):
                self.response_headers.append((b"Connection", b"close"))
        if (
            self.code not in (204, 304)
            and not self.response_use_chunked
            and not self.connection_upgraded
            and not any(
                k.lower() == b"content-length" for k, _ in self.response_headers
            )
        ):
            self.close_connection = True
            self.response_headers = [
                (name, b"close") if name.lower() == b"connection" else (name, value)
                for name, value in self.response_headers
            ]

    def _write_with_headers(self, data):
        """Send the status line and headers in the same write as the first piece."""
        self.headers_sent = True
        self.finalize_headers()
        head = bytearray(b"HTTP/1.1 ")
        head += self.status
        head += b"\r\n"
        for header, value in self.response_headers:
            head += header + b": " + value + b"\r\n"
        head += b"\r\n"
        self._sendall(self._framed(data, head))

    def _write(self, data):
        """Send a piece of body (as a chunk, when the body is chunked)."""
        if data:
            self._sendall(self._framed(data, bytearray()))

    def _framed(self, data, out: bytearray) -> bytearray:
        """``out`` with ``data`` appended as it goes on the wire; a piece marked
        ``ends_body`` (the relay's last) carries the chunked body's terminator too."""
        if not self.response_use_chunked:
            out += data
            return out
        if data:
            out += b"%x\r\n" % len(data)
            out += data
            out += b"\r\n"
        if getattr(data, "ends_body", False):
            out += b"0\r\n\r\n"
            self.body_ended = True
        return out

    def _sendall(self, data):
        """One ``send`` on the socket itself when it takes everything (the usual
        piece); pywsgi's (gevent's ``sendall``, which waits) for what is left.

        gevent's ``sendall`` asks the socket for its buffer size and reads the clock
        before every send: two calls more per token of a stream (issue 18)."""
        if self._raw is None:
            return super()._sendall(data)
        rest = self._send_now(data)
        if rest is not None:
            super()._sendall(rest)

    def _send_now(self, data):
        """One ``send`` on the raw socket: what it did not take (None: all of it).
        A failed send marks the client gone and raises."""
        try:
            sent = self._raw.send(data)
        except BlockingIOError:
            sent = 0
        except OSError as ex:
            self._client_gone(ex)
            raise
        self.response_length += sent
        return memoryview(data)[sent:] if sent < len(data) else None

    def process_result(self):
        """Write the application's pieces; end a chunked body unless its last piece
        already did."""
        self.body_ended = False
        pieces = iter(self.result)
        for data in pieces:
            if data or getattr(data, "sends_head", False):  # relay.HEAD: head now
                self.write(data)  # pywsgi's checks, the head with the first piece
                break
        if self.headers_sent and self.response_use_chunked:
            if self._raw is not None and hasattr(self.result, "pump"):
                self._pump(self.result)  # the gateway's relay: the middle in the hub
            self._relay(pieces)  # a stream's every other piece: one frame, one send
        else:
            for data in pieces:
                if data:
                    self.write(data)
        if self.status and not self.headers_sent:
            self.write(b"")  # an empty body: the head still goes
        if self.response_use_chunked and not self.body_ended:
            self._sendall(b"0\r\n\r\n")

    def _pump(self, relay) -> None:
        """A relayed stream's pieces after the first, framed and sent from the hub's
        callback as each is read (``Relay.pump``): no greenlet switch per token. What
        the socket could not take at once is sent from here, waiting, and the pump
        goes on; the last piece (and a failure) is left to ``_relay``."""
        send_now = self._send_now
        left: list = []  # what the callback could not send: the rest, or the error

        def deliver(piece: bytes) -> bool:
            try:  # no raising in the hub's callback: the greenlet below raises it
                rest = send_now(b"%x\r\n%b\r\n" % (len(piece), piece))
            except OSError as exc:
                left.append(exc)
                return True
            if rest is None:
                return False
            left.append(rest)
            return True

        while relay.pump(deliver):
            rest = left.pop()
            if isinstance(rest, OSError):
                raise rest  # the client is marked gone already
            super()._sendall(rest)  # waits until the client takes it

    def _client_gone(self, ex: OSError) -> None:
        """A send to the client failed: marked as pywsgi marks it (the client left)."""
        self.status = f"socket error: {ex}"
        if self.code > 0:
            self.code = -self.code

    def _relay(self, pieces) -> None:
        """The rest of a chunked body: each piece framed in one step and sent."""
        send = self._sendall
        for data in pieces:
            if not data:
                continue
            if type(data) is bytes:
                send(b"%x\r\n%b\r\n" % (len(data), data))
            else:  # a LastPiece (its terminator), or another bytes-like
                send(self._framed(data, bytearray()))

    def log_request(self):
        """Log the request if gunicorn's access log is on; else build nothing."""
        # gunicorn's handler builds the log entry's objects before its logger finds
        # the access log off: about 1.5% of a call
        # a request refused before its environ was built (a bad or slow head) has
        # nothing for gunicorn's access logger, which would fail on it
        if self.environ is not None and getattr(
            self.server.log, "access_log_enabled", True
        ):
            super().log_request()

    def get_environ(self):
        """The WSGI environ; ``GET http://host/path`` is routed as ``/path``; a body
        is read within the body deadline."""
        env = super().get_environ()
        if self.body_timeout:  # from now, a body has ``body_timeout`` to arrive
            self.wsgi_input = bound_body(env, self.wsgi_input, self.body_timeout)
        if not self.path.startswith("/"):  # RFC 9112 3.2.2: not ours to pick a host
            target = urlsplit(self.path)
            env["PATH_INFO"] = unquote(target.path or "/", "latin-1")
            env["QUERY_STRING"] = target.query
        return env
