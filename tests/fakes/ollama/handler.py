"""The request handler's base: a request read, recorded and dispatched."""

from __future__ import annotations

import hashlib
import json
import time
import traceback
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING

from tests.fakes import loads

from .data import (
    BUSY_MESSAGE,
    JSON_CT,
    PIECE,
    TEXT_CT,
    VERSION,
    _dumps,
)

if TYPE_CHECKING:
    from .fake import FakeOllama


class RecordedRequest(dict):
    """A recorded request: a dict that also allows attribute access."""

    def __getattr__(self, item):
        try:
            return self[item]
        except KeyError:
            raise AttributeError(item) from None

    def __setattr__(self, key, value):
        self[key] = value


class _Disconnected(Exception):
    pass


class _Aborted(Exception):
    pass


class _BadRequest(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


class BaseHandler(BaseHTTPRequestHandler):
    """Reads a request, records it and dispatches it to its route."""

    protocol_version = "HTTP/1.1"
    server_version = "FakeOllama/" + VERSION
    sys_version = ""

    # set per request
    fake: FakeOllama

    def version_string(self):
        return self.server_version

    def log_message(self, format, *args):  # noqa: A002 - silence
        if self.server.fake.verbose:
            super().log_message(format, *args)

    def setup(self):
        super().setup()
        self.server.fake._track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, False)

    # all methods share one dispatcher
    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    # ---------------------------------------------------------------- body

    def _iter_request_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise _Disconnected()
                size_s = line.split(b";", 1)[0].strip()
                try:
                    size = int(size_s, 16)
                except ValueError:
                    raise _BadRequest(400, "malformed chunked encoding") from None
                if size == 0:
                    # trailers until the empty line
                    while True:
                        t = self.rfile.readline(65537)
                        if not t or t in (b"\r\n", b"\n"):
                            break
                    return
                remaining = size
                while remaining:
                    piece = self.rfile.read(min(PIECE, remaining))
                    if not piece:
                        raise _Disconnected()
                    remaining -= len(piece)
                    yield piece
                self.rfile.readline(3)  # CRLF after the chunk data
        else:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = 0
            remaining = length
            while remaining > 0:
                piece = self.rfile.read(min(PIECE, remaining))
                if not piece:
                    raise _Disconnected()
                remaining -= len(piece)
                yield piece

    # ------------------------------------------------------------- dispatch

    def _dispatch(self):
        fake = self.server.fake
        self.fake = fake
        self.epoch = fake.epoch  # counters ignore requests from before the last reset
        self._headers_sent = False
        self._is_head = self.command == "HEAD"
        raw_path = self.path
        self.route_path = raw_path.split("?", 1)[0]
        is_blob_upload = self.command == "POST" and self.route_path.startswith(
            "/api/blobs/"
        )

        h = hashlib.sha256()
        size = 0
        parts = []
        try:
            for piece in self._iter_request_body():
                h.update(piece)
                size += len(piece)
                if not is_blob_upload:
                    parts.append(piece)
        except _Disconnected:
            self.close_connection = True
            return
        except _BadRequest as e:
            self.close_connection = True
            self._send_json(e.status, {"error": e.message})
            return
        body = b"".join(parts)
        self.body = body
        self.body_size = size
        self.body_sha256 = h.hexdigest()
        parsed = None
        if body and not is_blob_upload:
            try:
                parsed = json.loads(body)
            except (ValueError, UnicodeDecodeError, RecursionError):  # Go: max depth
                parsed = None
        rec = RecordedRequest(
            method=self.command,
            path=raw_path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            json=parsed,
            body_size=size,
            body_sha256=self.body_sha256,
            peer=tuple(self.client_address[:2]),
            time=time.time(),
        )
        fake._record(rec)

        try:
            if fake.response_delay:
                time.sleep(fake.response_delay)
            if fake.required_token and self.headers.get("Authorization") != (
                f"Bearer {fake.required_token}"
            ):
                self._send_json(401, {"error": "unauthorized"})
                return
            if fake.busy and self.command == "POST":
                self._send_json(503, {"error": BUSY_MESSAGE})
                return
            injected = fake._take_next_status()
            if injected is not None:
                self._send_injected(injected)
                return
            if fake.prompt_cache_delay and isinstance(parsed, dict):
                fake._prompt_cache(parsed)
            loads.before_route(self, parsed)  # a cold model loads first
            if fake.gpu is not None and fake.gpu.serves(
                self.command, self.route_path, parsed
            ):  # fakes/gpu.py: prefill and swap costs; its metrics in the answer
                plain = type(self)._metrics
                with fake.gpu.serve(parsed, fake) as measured:
                    self._metrics = lambda p, n: {**plain(p, n), **measured}
                    self._route()
                return
            model = parsed.get("model") if isinstance(parsed, dict) else None
            if fake.parallel and self.command == "POST" and isinstance(model, str):
                with fake._scheduled(model) as admitted:
                    if not admitted:  # its queue is full: Ollama's 503
                        self._send_json(503, {"error": BUSY_MESSAGE})
                        return
                    self._route()
                return
            self._route()
        except (
            _Disconnected,
            BrokenPipeError,
            ConnectionResetError,
            ConnectionAbortedError,
        ):
            fake._note_disconnect(self.epoch)
            self.close_connection = True
        except _Aborted:
            self.close_connection = True
        except _BadRequest as e:
            if not self._headers_sent:
                self._error(e.status, e.message)
            else:
                self.close_connection = True
        except Exception:  # pragma: no cover - debugging aid
            traceback.print_exc()
            if not self._headers_sent:
                try:
                    self._error(500, "internal fake error")
                except OSError:
                    pass
            self.close_connection = True

    def _send_injected(self, injected):
        code, body = injected[0], injected[1] if len(injected) > 1 else None
        extra = injected[2] if len(injected) > 2 else {}
        if isinstance(body, (dict, list)):
            self._send_bytes(code, _dumps(body), JSON_CT, extra)
        elif isinstance(body, str):
            self._send_bytes(code, body.encode(), TEXT_CT, extra)
        elif isinstance(body, bytes):
            self._send_bytes(code, body, "application/octet-stream", extra)
        else:
            self._send_bytes(code, b"", None, extra)
