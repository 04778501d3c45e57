"""gunicorn settings: gevent workers, bind from $PORT, workers from $WEB_CONCURRENCY."""

import os
from urllib.parse import unquote, urlsplit

from gunicorn.workers.ggevent import GeventPyWSGIWorker, PyWSGIHandler

bind = (
    f"{os.environ.get('OLLAMA_GATE_HOST', '0.0.0.0')}:{os.environ.get('PORT', '8080')}"
)
# One gevent worker holds thousands of streams; more workers need Redis for shared
# limits.
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))

# Idle keep-alive connections are closed after this many seconds (and a client that
# neither sends nor reads for as long is dropped): gunicorn's --keep-alive.
keepalive = 75


class GateHandler(PyWSGIHandler):
    """gevent's own HTTP server (pywsgi) as gunicorn runs it, with two things that
    gunicorn's parser did: an idle timeout, and absolute-form request targets routed
    by their path.

    Measured with bench/ against gunicorn's ``gevent`` worker: about 10% less CPU per
    call. On top, fewer writes than pywsgi makes: a response's head leaves with its
    first piece of body, and a stream's last piece (``LastPiece`` from the relay) with
    the end of the chunked body.
    """

    idle_timeout = 75.0  # set from gunicorn's ``keepalive`` by ``GateWorker``
    body_ended = False  # the chunked body's end has been sent (with a ``LastPiece``)

    def handle(self):
        """Serve the connection's requests; none may wait idle past the timeout."""
        self.socket.settimeout(self.idle_timeout or None)  # keepalive 0: no limit
        super().handle()

    def finalize_headers(self):
        """pywsgi's; and an HTTP/1.0 answer of unknown length (it cannot be chunked)
        ends by closing the connection, whatever keep-alive the client asked for."""
        super().finalize_headers()
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

    def process_result(self):
        """Write the application's pieces; end a chunked body unless its last piece
        already did."""
        self.body_ended = False
        for data in self.result:
            if data:
                self.write(data)
        if self.status and not self.headers_sent:
            self.write(b"")  # an empty body: the head still goes
        if self.response_use_chunked and not self.body_ended:
            self._sendall(b"0\r\n\r\n")

    def log_request(self):
        """Log the request if gunicorn's access log is on; else build nothing."""
        # gunicorn's handler builds the log entry's objects before its logger finds
        # the access log off: about 1.5% of a call
        if getattr(self.server.log, "access_log_enabled", True):
            super().log_request()

    def get_environ(self):
        """The WSGI environ; ``GET http://host/path`` is routed as ``/path``."""
        env = super().get_environ()
        if not self.path.startswith("/"):  # RFC 9112 3.2.2: not ours to pick a host
            target = urlsplit(self.path)
            env["PATH_INFO"] = unquote(target.path or "/", "latin-1")
            env["QUERY_STRING"] = target.query
        return env


class GateWorker(GeventPyWSGIWorker):
    """gunicorn's gevent worker on gevent's pywsgi server, with ``GateHandler``."""

    wsgi_handler = GateHandler

    def init_process(self):
        """In the worker process: the handler's idle timeout is gunicorn's
        ``keepalive``."""
        GateHandler.idle_timeout = float(self.cfg.keepalive)
        super().init_process()


worker_class = GateWorker
# Past this many open connections a worker stops accepting; streams are long-lived.
worker_connections = int(os.environ.get("OLLAMA_GATE_WORKER_CONNECTIONS", "4000"))
# Generations can run for minutes; gevent workers heartbeat independently of requests.
timeout = 120
graceful_timeout = 30
accesslog = (
    "-" if os.environ.get("OLLAMA_GATE_ACCESS_LOG", "") in ("1", "true") else None
)
errorlog = "-"
loglevel = os.environ.get("OLLAMA_GATE_LOG_LEVEL", "info").lower()


def on_starting(server):
    """Refuse several workers with in-memory limit counters: each would count on its
    own."""
    try:  # the app reads .env too; the master must see the same REDIS_URL
        from dotenv import load_dotenv

        load_dotenv(override=False)
    except ImportError:
        pass
    if (
        server.cfg.workers > 1
        and not os.environ.get("OLLAMA_GATE_REDIS_URL", "").strip()
    ):
        raise RuntimeError(
            f"{server.cfg.workers} workers need OLLAMA_GATE_REDIS_URL: rate limits, "
            "quotas and concurrency caps are counted in memory, so each worker would "
            "allow the full limit on its own. Set OLLAMA_GATE_REDIS_URL "
            "(redis://host:6379/0) or run one worker (WEB_CONCURRENCY=1; one gevent "
            "worker holds thousands of streams)."
        )
