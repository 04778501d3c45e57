"""A fake Ollama HTTP server for the test suite (stdlib only).

Speaks the wire format described in /work/shared/ollama-api.md (sections 1, 2,
3 and 6): native NDJSON streams with real HTTP/1.1 chunked transfer encoding
(one chunk per JSON object), OpenAI-compatible SSE on /v1, Anthropic's
Messages API on /v1/messages (``fake_anthropic.py``), Go-like error bodies,
HEAD routes, raw-path routing of ``/v1/models/<id>`` and streamed blob uploads
(Content-Length or chunked request bodies). Request field names are read as Go's
decoder reads them (``_go_request``: any case, the Kelvin sign and long s, never
``ß`` for ``ss``; the last spelling wins).

Usage::

    with FakeOllama() as fake:          # or fake = FakeOllama().start()
        requests.get(fake.url + "/api/tags")
        fake.requests[-1].path          # raw request target, query included

Test controls (plain attributes, all reset by ``reset()``):

* ``chunk_delay``           seconds slept between stream chunks (also applied
                            per token on non-stream generations); the sleep
                            polls the socket, so a client that goes away is
                            noticed at once.
* ``hold_second_chunk``     when True a stream sends its first chunk, sets
                            ``first_chunk_sent`` and waits (<= 30 s) for
                            ``release`` before sending the rest.
* ``fail_mid_stream_after`` N -> after N chunks the socket is shut down
                            abruptly (no terminating 0-chunk). Stays active
                            until changed/reset (applies to every stream).
* ``error_mid_stream``      (N, "message") -> after N chunks a final
                            ``{"error": message}`` NDJSON line (or SSE data
                            event) is sent and the stream ends cleanly.
* ``next_status``           (code, body[, headers]) -> the next request (any
                            path) gets this status and body once. ``body`` may
                            be a dict/list (sent as JSON), str, bytes or None.
* ``response_delay``        seconds slept before sending response headers.
* ``anthropic_ping``        when True a /v1/messages stream sends a ``ping`` event
                            after ``message_start``, as Anthropic's own API does
                            (Ollama never sends one).
* ``required_token``        when set, every request without ``Authorization:
                            Bearer <token>`` gets 401 (Ollama behind a proxy's auth,
                            or another gateway).
* ``busy``                  when True every POST gets Ollama's 503 "server busy"
                            (its queue full: ``OLLAMA_MAX_QUEUE``).
* ``prompt_cache_delay``    seconds a chat waits before answering when this server
                            has not seen its conversation (its opening messages):
                            Ollama's prompt cache, kept per server.
* ``parallel``              N -> Ollama's scheduler: at most N calls of one model
                            run at once (``OLLAMA_NUM_PARALLEL``), the rest wait in
                            order; past ``max_queue`` waiting, "server busy".
                            ``running`` and ``peak_running`` count per model.
* ``gpu``                   a ``fake_gpu.FakeGPU``: slots with prompt caches, model
                            swaps (prompt calls only; ``parallel`` is then its).
* ``models``                mutable list of /api/tags entries.
* ``loaded``                mutable list of model names reported by /api/ps.

Observations:

* ``requests``              list of RecordedRequest (dict with attribute
                            access): method, path, headers (lower-case names),
                            body (bytes; b"" for blob uploads), json,
                            body_size, body_sha256 (hex), peer (host, port),
                            time.
* ``first_chunk_sent``      Event, set when any stream flushed its 1st chunk.
* ``disconnected``          Event, set when a client went away mid-response.
* ``disconnect_count``      number of detected client disconnects.
* ``chunks_sent``           total stream chunks written (all streams).
* ``streams_started`` / ``streams_completed`` / ``aborted_count``.
* ``blobs``                 dict "sha256:<hex>" -> size of uploaded blobs.

Run standalone: ``python tests/fake_ollama.py --port 11434``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import datetime as _dt
import hashlib
import json
import random
import re
import select
import socket
import struct
import sys
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import fake_anthropic

__all__ = ["FakeOllama", "RecordedRequest", "DEFAULT_MODELS", "WORDS"]

VERSION = "0.33.0"
BUSY_MESSAGE = "server busy, please try again.  maximum pending requests exceeded"
PIECE = 64 * 1024
HOLD_TIMEOUT = 30.0
DEFAULT_TOKENS = 8
EMBED_DIM = 8

WORDS = ["The", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", "again"]
THINK_WORDS = ["Let", "me", "think", "about", "this", "carefully"]

DEFAULT_MODELS = [
    {
        "name": "llama3.2:latest",
        "model": "llama3.2:latest",
        "modified_at": "2025-06-01T10:00:00.123456789+02:00",
        "size": 2019393189,
        "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": "llama",
            "families": ["llama"],
            "parameter_size": "3.2B",
            "quantization_level": "Q4_K_M",
        },
        "capabilities": ["completion", "tools"],
    },
    {
        "name": "qwen2.5:7b",
        "model": "qwen2.5:7b",
        "modified_at": "2025-05-20T08:30:00.5+02:00",
        "size": 4683087332,
        "digest": "845dbda0ea48ed749caafd9e6037047aa19acfcfd82e704d7ca97d631a0b697e",
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": "qwen2",
            "families": ["qwen2"],
            "parameter_size": "7.6B",
            "quantization_level": "Q4_K_M",
        },
        "capabilities": ["completion", "tools", "thinking"],
    },
    {
        "name": "nomic-embed-text:latest",
        "model": "nomic-embed-text:latest",
        "modified_at": "2025-04-02T12:00:00.987654321+02:00",
        "size": 274302450,
        "digest": "0a109f422b47e3a30ba2b10eca18548e944e8a23073ee3f3e947efcf3c45e59f",
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": "nomic-bert",
            "families": ["nomic-bert"],
            "parameter_size": "137M",
            "quantization_level": "F16",
        },
        "capabilities": ["embedding"],
    },
]

DEFAULT_LOADED = ["llama3.2:latest"]

_CONTEXT_LENGTH = {"llama": 131072, "qwen2": 32768, "nomic-bert": 2048}
_EMBED_LENGTH = {"llama": 3072, "qwen2": 3584, "nomic-bert": 768}

JSON_CT = "application/json; charset=utf-8"
TEXT_CT = "text/plain; charset=utf-8"
NDJSON_CT = "application/x-ndjson"
SSE_CT = "text/event-stream"


# --------------------------------------------------------------------------
# helpers


def _dumps(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _now_rfc3339() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _rfc3339_in(seconds: float) -> str:
    t = _dt.datetime.now(_dt.UTC) + _dt.timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _unix_of(rfc3339: str) -> int:
    s = rfc3339
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", s)
    if not m:
        return 0
    tz = "+00:00" if m.group(3) == "Z" else m.group(3)
    return int(_dt.datetime.fromisoformat(m.group(1) + tz).timestamp())


def normalize_model_name(name: str) -> str:
    """Canonical form used for matching: lower case, default host/namespace/tag."""
    n = (name or "").strip().lower()
    for prefix in ("registry.ollama.ai/", "library/"):
        if n.startswith(prefix):
            n = n[len(prefix) :]
    last = n.rsplit("/", 1)[-1]
    if ":" not in last:
        n += ":latest"
    return n


def token_text(i: int) -> str:
    w = WORDS[i % len(WORDS)]
    return w if i == 0 else " " + w


def think_text(i: int) -> str:
    w = THINK_WORDS[i % len(THINK_WORDS)]
    return w if i == 0 else " " + w


def expected_text(n: int = DEFAULT_TOKENS) -> str:
    """The text a generation of ``n`` tokens produces."""
    return "".join(token_text(i) for i in range(n))


def embedding_for(text: str, dim: int = EMBED_DIM) -> list:
    """Deterministic unit vector (float32-exact values) for ``text``."""
    raw = b""
    counter = 0
    while len(raw) < 4 * dim:
        raw += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    vals = [
        (struct.unpack_from("<I", raw, 4 * i)[0] / 2**32) * 2 - 1 for i in range(dim)
    ]
    norm = sum(v * v for v in vals) ** 0.5 or 1.0
    return [struct.unpack("<f", struct.pack("<f", v / norm))[0] for v in vals]


def _go_int(text: str):
    """A JSON integer as Go holds one: Python's 4,300-digit limit does not apply."""
    return int(text) if len(text) < 4000 else float(text)


# The request fields Ollama's structs declare (top level, and of a message).
GO_FIELDS = (
    "model name messages prompt system suffix template context options stream "
    "keep_alive images format raw think tools input truncate dimensions source "
    "destination from files stream_options max_tokens temperature seed insecure "
    "quantize"
).split()
GO_MESSAGE_FIELDS = ("role", "content", "images", "tool_calls", "thinking")


def _go_fold(name: str) -> str:
    """A name as Go's encoding/json matches it: one character to one (simple case
    folding: the Kelvin sign is k, the long s is s, but ß is no "ss")."""
    out = []
    for c in name:
        f = c.casefold()
        if len(f) != 1:  # a full folding (ß -> ss): only the simple one counts
            f = c.lower() if len(c.lower()) == 1 else c
        out.append(f.upper() if f.isascii() else f)
    return "".join(out)


def _go_named(obj: dict, fields) -> dict:
    """``obj`` with every name that sets a Go field spelt as the field (the last
    spelling wins, as in Go); other names as they are."""
    folds = {_go_fold(f): f for f in fields}
    out: dict = {}
    for key, value in obj.items():
        name = folds.get(_go_fold(key), key) if isinstance(key, str) else key
        out.pop(name, None)
        out[name] = value
    return out


def _go_request(obj: dict) -> dict:
    """A request body as Ollama's decoder reads it (messages too)."""
    req = _go_named(obj, GO_FIELDS)
    if isinstance(req.get("messages"), list):
        req["messages"] = [
            _go_named(m, GO_MESSAGE_FIELDS) if isinstance(m, dict) else m
            for m in req["messages"]
        ]
    return req


def _word_count(text) -> int:
    if not isinstance(text, str):
        return 0
    return len(text.split())


def _go_json_error(raw: bytes, exc: json.JSONDecodeError) -> str:
    text = exc.doc
    pos = exc.pos
    if pos >= len(text.rstrip()):
        return "unexpected EOF"
    ch = text[pos]
    msg = exc.msg
    if msg.startswith("Expecting property name"):
        return f"invalid character '{ch}' looking for beginning of object key string"
    if msg.startswith("Expecting ':'"):
        return f"invalid character '{ch}' after object key"
    if msg.startswith("Expecting ',' delimiter"):
        return f"invalid character '{ch}' after object key:value pair"
    if msg.startswith("Extra data"):
        return f"invalid character '{ch}' after top-level value"
    return f"invalid character '{ch}' looking for beginning of value"


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


# --------------------------------------------------------------------------
# HTTP handler


class _Handler(BaseHTTPRequestHandler):
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
            if fake.gpu is not None and fake.gpu.serves(
                self.command, self.route_path, parsed
            ):  # fake_gpu.py: prefill and swap costs; its metrics in the answer
                with fake.gpu.serve(parsed, fake) as measured:
                    self._metrics = lambda p, n: {**_Handler._metrics(p, n), **measured}
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

    def _route(self):
        p = self.route_path
        routes = _ROUTES.get(p)
        if routes is None:
            if p.startswith("/api/blobs/"):
                routes = {"HEAD": _Handler.h_blob_head, "POST": _Handler.h_blob_upload}
            elif (
                p.startswith("/v1/models/")
                and "/" not in p[len("/v1/models/") :]
                and len(p) > len("/v1/models/")
            ):
                routes = {"GET": _Handler.h_v1_model}
        if routes is None:
            self._send_bytes(404, b"404 page not found", TEXT_CT)
            return
        handler = routes.get(self.command)
        if handler is None:
            self._send_bytes(405, b"405 method not allowed", TEXT_CT)
            return
        handler(self)

    # -------------------------------------------------------------- writing

    def _send_bytes(self, status, body: bytes, content_type, extra_headers=None):
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for k, v in (extra_headers or {}).items():
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self._headers_sent = True
        if body and not self._is_head:
            self.wfile.write(body)
        self.wfile.flush()

    def _send_json(self, status, obj):
        self._send_bytes(status, _dumps(obj), JSON_CT)

    def _error(self, status, message):
        if self.route_path == "/v1/messages":
            body = fake_anthropic.error_body(status, message)
            self._send_bytes(status, body + b"\n", "application/json")
        elif self.route_path.startswith("/v1/"):
            etype = {400: "invalid_request_error", 404: "not_found_error"}.get(
                status, "api_error"
            )
            self._send_json(
                status,
                {
                    "error": {
                        "message": message,
                        "type": etype,
                        "param": None,
                        "code": None,
                    }
                },
            )
        else:
            self._send_json(status, {"error": message})

    def _client_gone(self, timeout=0.0) -> bool:
        """True if the peer closed (or reset) the connection."""
        try:
            if hasattr(select, "poll"):  # no FD_SETSIZE limit
                poller = select.poll()
                poller.register(
                    self.connection, select.POLLIN | select.POLLERR | select.POLLHUP
                )
                if not poller.poll(int(timeout * 1000)):
                    return False
            else:  # pragma: no cover - non-POSIX
                r, _, _ = select.select([self.connection], [], [], timeout)
                if not r:
                    return False
            data = self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            if data == b"":
                return True
            # peer sent something (e.g. a pipelined request): not gone
            if timeout:
                time.sleep(timeout)
            return False
        except BlockingIOError:
            return False
        except (OSError, ValueError):
            return True

    def _sleep(self, seconds):
        """Sleep while watching the socket; raises _Disconnected if peer leaves."""
        deadline = time.monotonic() + seconds
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if self._client_gone(min(remaining, 0.05)):
                raise _Disconnected()

    def _wait_event(self, event, timeout):
        deadline = time.monotonic() + timeout
        while not event.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if self._client_gone(min(remaining, 0.02)):
                raise _Disconnected()
        return True

    def _stream(self, content_type, payloads):
        """Send an iterable of bytes payloads, one HTTP chunk each."""
        fake = self.fake
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        if content_type == SSE_CT:
            self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._headers_sent = True
        self.wfile.flush()
        fake._count("streams_started", self.epoch)
        n = 0
        err = fake.error_mid_stream
        for payload in payloads:
            if n > 0:
                if n == 1 and fake.hold_second_chunk:
                    self._wait_event(fake.release, HOLD_TIMEOUT)
                if fake.chunk_delay:
                    self._sleep(fake.chunk_delay)
            fail_after = fake.fail_mid_stream_after
            if fail_after is not None and n >= fail_after:
                self._abort()
            if err is not None and n >= err[0]:
                msg = err[1]
                if self.route_path == "/v1/messages":
                    pass  # Ollama's Anthropic writer drops it: the stream just ends
                elif content_type == SSE_CT:
                    self._write_chunk(
                        b"data: " + _dumps({"error": {"message": msg}}) + b"\n\n"
                    )
                else:
                    self._write_chunk(_dumps({"error": msg}) + b"\n")
                break
            self._write_chunk(payload)
            n += 1
            if n == 1:
                fake.first_chunk_sent.set()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        fake._count("streams_completed", self.epoch)

    def _write_chunk(self, data: bytes):
        if self._client_gone(0):
            raise _Disconnected()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()
        self.fake._count("chunks_sent", self.epoch)

    def _abort(self):
        self.fake._count("aborted_count", self.epoch)
        try:
            self.wfile.flush()
        except OSError:
            pass
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raise _Aborted()

    def _ndjson(self, objs):
        self._stream(NDJSON_CT, (_dumps(o) + b"\n" for o in objs))

    def _sse(self, objs, done=True):
        def gen():
            for o in objs:
                yield b"data: " + _dumps(o) + b"\n\n"
            if done:
                yield b"data: [DONE]\n\n"

        self._stream(SSE_CT, gen())

    # ------------------------------------------------------------ json body

    def _json_body(self, required=True) -> dict:
        if not self.body:
            if self.route_path.startswith("/v1/"):
                raise _BadRequest(400, "EOF")
            raise _BadRequest(400, "missing request body")
        try:
            # Go reads a number of any length (an ignored field's is skipped)
            obj = json.loads(self.body, parse_int=_go_int)
        except json.JSONDecodeError as e:
            raise _BadRequest(400, _go_json_error(self.body, e)) from None
        except UnicodeDecodeError:
            raise _BadRequest(
                400, "invalid character looking for beginning of value"
            ) from None
        except RecursionError:  # Go's decoder refuses nesting past 10000 levels
            raise _BadRequest(400, "exceeded max depth") from None
        if not isinstance(obj, dict):
            kind = {
                list: "array",
                str: "string",
                int: "number",
                float: "number",
                bool: "bool",
            }.get(type(obj), "value")
            if obj is None:
                return {}
            raise _BadRequest(
                400, f"json: cannot unmarshal {kind} into Go value of type api.Request"
            )
        return _go_request(obj)

    def _lookup(self, name):
        return self.fake.find_model(name)

    # ------------------------------------------------------------ endpoints

    def h_root(self):
        self._send_bytes(200, b"Ollama is running", TEXT_CT)

    def h_version(self):
        self._send_json(200, {"version": self.fake.version})

    def h_status(self):
        self._send_json(200, {"cloud": {"disabled": False, "source": "default"}})

    def h_tags(self):
        with self.fake._lock:
            models = copy.deepcopy(self.fake.models)
        self._send_json(200, {"models": models})

    def h_ps(self):
        fake = self.fake
        out = []
        with fake._lock:
            loaded = list(fake.loaded)
        for i, name in enumerate(loaded):
            m = fake.find_model(name)
            if not m:
                continue
            out.append(
                {
                    "name": m["name"],
                    "model": m["model"],
                    "size": m["size"],
                    "digest": m["digest"],
                    "details": copy.deepcopy(m["details"]),
                    "expires_at": _rfc3339_in(300 - i),
                    "size_vram": m["size"],
                    "context_length": 4096,
                }
            )
        self._send_json(200, {"models": out})

    def h_show(self):
        req = self._json_body()
        name = req.get("model") or req.get("name") or ""
        if not name:
            raise _BadRequest(400, "model is required")
        m = self._lookup(name)
        if not m:
            raise _BadRequest(404, f"model '{name}' not found")
        fam = m["details"].get("family", "llama")
        params = (
            'stop                           "<|eot_id|>"\n'
            "temperature                    0.8"
        )
        template = "{{ if .System }}{{ .System }}\n{{ end }}{{ .Prompt }}"
        model_info = {
            "general.architecture": fam,
            "general.file_type": 15,
            "general.parameter_count": 3212749888,
            "general.quantization_version": 2,
            f"{fam}.context_length": _CONTEXT_LENGTH.get(fam, 4096),
            f"{fam}.embedding_length": _EMBED_LENGTH.get(fam, 4096),
            f"{fam}.block_count": 28,
            "tokenizer.ggml.model": "gpt2",
        }
        self._send_json(
            200,
            {
                "license": "LICENSE TEXT",
                "modelfile": '# Modelfile generated by "ollama show"\n'
                f"FROM /root/.ollama/models/blobs/sha256-{m['digest']}\n"
                f'TEMPLATE """{template}"""\nPARAMETER temperature 0.8\n',
                "parameters": params,
                "template": template,
                "details": copy.deepcopy(m["details"]),
                "model_info": model_info,
                "tensors": [],
                "capabilities": list(m.get("capabilities", [])),
                "modified_at": m["modified_at"],
            },
        )

    # generation ----------------------------------------------------------

    def _gen_common(self, req, kind):
        fake = self.fake
        name = req.get("model")
        if not isinstance(name, str) or not name:
            if kind == "chat":
                raise _BadRequest(400, "model is required")
            raise _BadRequest(404, f"model '{name or ''}' not found")
        m = self._lookup(name)
        if not m:
            raise _BadRequest(404, f"model '{name}' not found")
        caps = m.get("capabilities", [])
        if "completion" not in caps:
            raise _BadRequest(
                400,
                f'"{name}" does not support {"chat" if kind == "chat" else "generate"}',
            )
        think = req.get("think")
        if think not in (None, False) and "thinking" not in caps:
            raise _BadRequest(400, f'"{name}" does not support thinking')
        if kind == "chat" and req.get("tools") and "tools" not in caps:
            raise _BadRequest(
                400, f"registry.ollama.ai/library/{name} does not support tools"
            )
        opts = req.get("options") or {}
        if not isinstance(opts, dict):
            raise _BadRequest(
                400,
                "json: cannot unmarshal into Go struct field .options of type "
                "map[string]interface {}",
            )
        num_predict = opts.get("num_predict")
        if (
            isinstance(num_predict, (int, float))
            and not isinstance(num_predict, bool)
            and num_predict > 0
        ):
            n, reason = int(num_predict), "length"
        else:
            n, reason = DEFAULT_TOKENS, "stop"
        n_think = len(THINK_WORDS) if think not in (None, False) else 0
        fake._touch_loaded(m["name"], req.get("keep_alive"))
        return name, n, reason, n_think

    @staticmethod
    def _metrics(prompt_tokens, n):
        load = 1_234_567
        pe = 2_000_000 * max(prompt_tokens, 1)
        ev = 10_000_000 * n
        return {
            "total_duration": load + pe + ev + 345_678,
            "load_duration": load,
            "prompt_eval_count": prompt_tokens,
            "prompt_eval_duration": pe,
            "eval_count": n,
            "eval_duration": ev,
        }

    def _nonstream_pacing(self, total_chunks):
        fake = self.fake
        if fake.chunk_delay and total_chunks > 1:
            self._sleep(fake.chunk_delay * (total_chunks - 1))

    def h_generate(self):
        req = self._json_body()
        if req.get("raw") and (
            req.get("system") or req.get("template") or req.get("context")
        ):
            raise _BadRequest(
                400, "raw mode does not support template, system, or context"
            )
        name, n, reason, n_think = self._gen_common(req, "generate")
        prompt = req.get("prompt") or ""
        if not prompt and not req.get("images"):
            ka = req.get("keep_alive")
            if ka == 0 or ka == "0" or ka == "0s":
                self._send_json(
                    200,
                    {
                        "model": name,
                        "created_at": _now_rfc3339(),
                        "response": "",
                        "done": True,
                        "done_reason": "unload",
                    },
                )
            else:
                self._send_json(
                    200,
                    {
                        "model": name,
                        "created_at": _now_rfc3339(),
                        "response": "",
                        "done": True,
                        "done_reason": "load",
                    },
                )
            return
        ptoks = max(_word_count(prompt) + _word_count(req.get("system")), 1)
        final_extra = {"done_reason": reason}
        if not req.get("raw"):
            final_extra["context"] = list(range(1, ptoks + n + 1))
        final_extra.update(self._metrics(ptoks, n))
        if req.get("stream") is False:
            self._nonstream_pacing(n + n_think)
            out = {
                "model": name,
                "created_at": _now_rfc3339(),
                "response": expected_text(n),
            }
            if n_think:
                out["thinking"] = "".join(think_text(i) for i in range(n_think))
            out["done"] = True
            out.update(final_extra)
            self._send_json(200, out)
            return

        def objs():
            for i in range(n_think):
                yield {
                    "model": name,
                    "created_at": _now_rfc3339(),
                    "response": "",
                    "thinking": think_text(i),
                    "done": False,
                }
            for i in range(n):
                yield {
                    "model": name,
                    "created_at": _now_rfc3339(),
                    "response": token_text(i),
                    "done": False,
                }
            final = {
                "model": name,
                "created_at": _now_rfc3339(),
                "response": "",
                "done": True,
            }
            final.update(final_extra)
            yield final

        self._ndjson(objs())

    def h_chat(self):
        answer = self._chat_answer(self._json_body())
        if isinstance(answer, dict):
            self._send_json(200, answer)
        else:
            self._ndjson(answer)

    def _chat_answer(self, req):
        """A chat's whole answer (a dict) or its stream (an iterator of dicts)."""
        name, n, reason, n_think = self._gen_common(req, "chat")
        messages = req.get("messages") or []
        if not isinstance(messages, list):
            raise _BadRequest(
                400,
                "json: cannot unmarshal into Go struct field ChatRequest.messages "
                "of type []api.Message",
            )
        if not messages:
            ka = req.get("keep_alive")
            reason0 = "unload" if ka in (0, "0", "0s") else "load"
            return {
                "model": name,
                "created_at": _now_rfc3339(),
                "message": {"role": "assistant", "content": ""},
                "done": True,
                "done_reason": reason0,
            }
        ptoks = max(
            sum(_word_count(m.get("content")) for m in messages if isinstance(m, dict)),
            1,
        )
        metrics = self._metrics(ptoks, n)
        calls = fake_anthropic.tool_calls(req)  # a tool to call: no text
        if req.get("stream") is False:
            self._nonstream_pacing(n + n_think)
            msg = {"role": "assistant", "content": "" if calls else expected_text(n)}
            if n_think:
                msg["thinking"] = "".join(think_text(i) for i in range(n_think))
            if calls:
                msg["tool_calls"] = calls
            out = {
                "model": name,
                "created_at": _now_rfc3339(),
                "message": msg,
                "done": True,
                "done_reason": reason,
            }
            out.update(metrics)
            return out

        def objs():
            for i in range(n_think):
                yield {
                    "model": name,
                    "created_at": _now_rfc3339(),
                    "message": {
                        "role": "assistant",
                        "content": "",
                        "thinking": think_text(i),
                    },
                    "done": False,
                }
            for i in range(0 if calls else n):
                yield {
                    "model": name,
                    "created_at": _now_rfc3339(),
                    "message": {"role": "assistant", "content": token_text(i)},
                    "done": False,
                }
            if calls:
                yield {
                    "model": name,
                    "created_at": _now_rfc3339(),
                    "message": {
                        "role": "assistant",
                        "content": "",
                        "tool_calls": calls,
                    },
                    "done": False,
                }
            final = {
                "model": name,
                "created_at": _now_rfc3339(),
                "message": {"role": "assistant", "content": ""},
                "done": True,
                "done_reason": reason,
            }
            final.update(metrics)
            yield final

        return objs()

    # embeddings ------------------------------------------------------------

    def h_embed(self):
        req = self._json_body()
        name = req.get("model")
        if not isinstance(name, str) or not name:
            raise _BadRequest(404, f"model '{name or ''}' not found")
        m = self._lookup(name)
        if not m:
            raise _BadRequest(404, f"model '{name}' not found")
        inp = req.get("input")
        if inp is None or inp == "":
            inputs = []
        elif isinstance(inp, str):
            inputs = [inp]
        elif isinstance(inp, list) and all(isinstance(x, str) for x in inp):
            inputs = inp
        else:
            raise _BadRequest(400, "invalid input type")
        self.fake._touch_loaded(m["name"], req.get("keep_alive"))
        ptoks = sum(max(_word_count(x), 1) for x in inputs)
        self._send_json(
            200,
            {
                "model": name,
                "embeddings": [embedding_for(x) for x in inputs],
                "total_duration": 14_143_917,
                "load_duration": 1_019_500,
                "prompt_eval_count": ptoks,
            },
        )

    def h_embeddings(self):
        req = self._json_body()
        name = req.get("model")
        if not isinstance(name, str) or not name:
            raise _BadRequest(400, "model is required")
        m = self._lookup(name)
        if not m:
            raise _BadRequest(404, f"model '{name}' not found")
        prompt = req.get("prompt") or ""
        if not isinstance(prompt, str):
            raise _BadRequest(
                400,
                "json: cannot unmarshal into Go struct field EmbeddingRequest.prompt "
                "of type string",
            )
        self.fake._touch_loaded(m["name"], req.get("keep_alive"))
        self._send_json(200, {"embedding": embedding_for(prompt) if prompt else []})

    # model management ------------------------------------------------------

    def _progress(self, req, objs):
        if req.get("stream") is False:
            _last = None
            for _last in objs:
                pass
            self._send_json(200, _last)
        else:
            self._ndjson(objs)

    def h_pull(self):
        req = self._json_body()
        name = req.get("model") or req.get("name") or ""
        if not name:
            raise _BadRequest(400, "model is required")
        fake = self.fake

        def objs():
            yield {"status": "pulling manifest"}
            layers = []
            for i, total in enumerate((2019377376, 1429, 7711, 6016, 96)):
                d = hashlib.sha256(
                    f"{normalize_model_name(name)}:{i}".encode()
                ).hexdigest()
                layers.append((d, total))
            for d, total in layers:
                st = f"pulling {d[:12]}"
                yield {"status": st, "digest": "sha256:" + d, "total": total}
                yield {
                    "status": st,
                    "digest": "sha256:" + d,
                    "total": total,
                    "completed": total // 2 or total,
                }
                yield {
                    "status": st,
                    "digest": "sha256:" + d,
                    "total": total,
                    "completed": total,
                }
            yield {"status": "verifying sha256 digest"}
            yield {"status": "writing manifest"}
            fake._add_model(name, layers[0][0])
            yield {"status": "removing unused layers"}
            yield {"status": "success"}

        self._progress(req, objs())

    def h_push(self):
        req = self._json_body()
        name = req.get("model") or req.get("name") or ""
        if not name:
            raise _BadRequest(400, "model is required")
        m = self._lookup(name)
        if not m:
            raise _BadRequest(404, f"model '{name}' not found")

        def objs():
            yield {"status": "retrieving manifest"}
            for d, total in (
                (m["digest"], m["size"]),
                (hashlib.sha256(name.encode()).hexdigest(), 1429),
            ):
                st = f"pushing {d[:12]}"
                yield {"status": st, "digest": "sha256:" + d, "total": total}
                yield {
                    "status": st,
                    "digest": "sha256:" + d,
                    "total": total,
                    "completed": total,
                }
            yield {"status": "pushing manifest"}
            yield {"status": "success"}

        self._progress(req, objs())

    def h_create(self):
        req = self._json_body()
        name = req.get("model") or req.get("name") or ""
        if not name:
            raise _BadRequest(400, "model is required")
        fake = self.fake
        files = req.get("files") or {}
        if not isinstance(files, dict):
            raise _BadRequest(
                400,
                "json: cannot unmarshal into Go struct field CreateRequest.files "
                "of type map[string]string",
            )
        base = req.get("from")
        if not files and not base:
            raise _BadRequest(400, "neither 'from' or 'files' was specified")
        if base and not files and not fake.find_model(base):
            raise _BadRequest(404, f"model '{base}' not found")
        for fname, digest in files.items():
            if digest not in fake.blobs:
                raise _BadRequest(400, f"blob {digest} for {fname} not found")

        def objs():
            if base and not files:
                bm = fake.find_model(base)
                yield {"status": f"using existing layer sha256:{bm['digest']}"}
            for _fname, digest in files.items():
                yield {"status": "parsing GGUF"}
                yield {"status": f"using existing layer {digest}"}
            for key in ("template", "system", "parameters", "license"):
                if req.get(key):
                    d = hashlib.sha256(
                        json.dumps(req[key], sort_keys=True).encode()
                    ).hexdigest()
                    yield {"status": f"creating new layer sha256:{d}"}
            yield {"status": "writing manifest"}
            digest = hashlib.sha256(_dumps(req)).hexdigest()
            src = fake.find_model(base) if base else None
            fake._add_model(name, digest, template=src)
            yield {"status": "success"}

        self._progress(req, objs())

    def h_copy(self):
        req = self._json_body()
        src, dst = req.get("source") or "", req.get("destination") or ""
        if not src or not dst:
            raise _BadRequest(400, "source and destination are required")
        m = self._lookup(src)
        if not m:
            raise _BadRequest(404, f'model "{src}" not found')
        self.fake._add_model(dst, m["digest"], template=m)
        self._send_bytes(200, b"", None)

    def h_delete(self):
        req = self._json_body()
        name = req.get("model") or req.get("name") or ""
        if not name:
            raise _BadRequest(400, "model is required")
        if not self.fake._remove_model(name):
            raise _BadRequest(404, f"model '{name}' not found")
        self._send_bytes(200, b"", None)

    def _blob_digest(self):
        d = urllib.parse.unquote(self.route_path[len("/api/blobs/") :])
        if not re.fullmatch(r"sha256[:-][0-9a-f]{64}", d):
            raise _BadRequest(400, "invalid digest format")
        return "sha256:" + d[7:]

    def h_blob_head(self):
        d = self._blob_digest()
        self._send_bytes(200 if d in self.fake.blobs else 404, b"", None)

    def h_blob_upload(self):
        d = self._blob_digest()
        if d in self.fake.blobs:
            self._send_bytes(200, b"", None)
            return
        if "sha256:" + self.body_sha256 != d:
            raise _BadRequest(400, "digest mismatch")
        with self.fake._lock:
            self.fake.blobs[d] = self.body_size
        self._send_bytes(201, b"", None)

    # OpenAI-compatible ------------------------------------------------------

    def _v1_model(self, req):
        name = req.get("model")
        if not isinstance(name, str) or not name:
            raise _BadRequest(400, "model is required")
        m = self._lookup(name)
        if not m:
            raise _BadRequest(404, f"model '{name}' not found")
        return name, m

    @staticmethod
    def _v1_tokens(req, key="max_tokens"):
        mt = req.get(key)
        if isinstance(mt, int) and not isinstance(mt, bool) and mt > 0:
            return mt, "length"
        return DEFAULT_TOKENS, "stop"

    def h_v1_chat(self):
        req = self._json_body()
        messages = req.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _BadRequest(400, "[] is too short - 'messages'")
        name, m = self._v1_model(req)
        self.fake._touch_loaded(m["name"], None)
        n, reason = self._v1_tokens(req)
        ptoks = 0
        for msg in messages:
            c = msg.get("content") if isinstance(msg, dict) else None
            if isinstance(c, list):
                ptoks += sum(
                    _word_count(p.get("text")) for p in c if isinstance(p, dict)
                )
            else:
                ptoks += _word_count(c)
        ptoks = max(ptoks, 1)
        usage = {
            "prompt_tokens": ptoks,
            "completion_tokens": n,
            "total_tokens": ptoks + n,
        }
        cid = f"chatcmpl-{random.randint(0, 998)}"
        created = int(time.time())
        base = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": name,
            "system_fingerprint": "fp_ollama",
        }
        if not req.get("stream"):
            self._nonstream_pacing(n)
            self._send_json(
                200,
                {
                    "id": cid,
                    "object": "chat.completion",
                    "created": created,
                    "model": name,
                    "system_fingerprint": "fp_ollama",
                    "choices": [
                        {
                            "index": 0,
                            "message": {
                                "role": "assistant",
                                "content": expected_text(n),
                            },
                            "finish_reason": reason,
                        }
                    ],
                    "usage": usage,
                },
            )
            return
        include_usage = bool((req.get("stream_options") or {}).get("include_usage"))

        def objs():
            for i in range(n):
                yield dict(
                    base,
                    choices=[
                        {
                            "index": 0,
                            "delta": {"role": "assistant", "content": token_text(i)},
                            "finish_reason": None,
                        }
                    ],
                )
            yield dict(
                base, choices=[{"index": 0, "delta": {}, "finish_reason": reason}]
            )
            if include_usage:
                yield dict(base, choices=[], usage=usage)

        self._sse(objs())

    def h_v1_completions(self):
        req = self._json_body()
        prompt = req.get("prompt")
        if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
            prompt = prompt[0]
        if not isinstance(prompt, str):
            raise _BadRequest(
                400, "invalid type for 'prompt' field: only string is supported"
            )
        name, m = self._v1_model(req)
        self.fake._touch_loaded(m["name"], None)
        n, reason = self._v1_tokens(req)
        ptoks = max(_word_count(prompt), 1)
        usage = {
            "prompt_tokens": ptoks,
            "completion_tokens": n,
            "total_tokens": ptoks + n,
        }
        cid = f"cmpl-{random.randint(0, 998)}"
        created = int(time.time())
        base = {
            "id": cid,
            "object": "text_completion",
            "created": created,
            "model": name,
            "system_fingerprint": "fp_ollama",
        }
        if not req.get("stream"):
            self._nonstream_pacing(n)
            self._send_json(
                200,
                dict(
                    base,
                    choices=[
                        {"text": expected_text(n), "index": 0, "finish_reason": reason}
                    ],
                    usage=usage,
                ),
            )
            return
        include_usage = bool((req.get("stream_options") or {}).get("include_usage"))
        zero = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}

        def objs():
            for i in range(n):
                o = dict(
                    base,
                    choices=[
                        {"text": token_text(i), "index": 0, "finish_reason": None}
                    ],
                )
                if include_usage:
                    o["usage"] = dict(zero)
                yield o
            o = dict(base, choices=[{"text": "", "index": 0, "finish_reason": reason}])
            if include_usage:
                o["usage"] = dict(zero)
            yield o
            if include_usage:
                yield dict(base, choices=[], usage=usage)

        self._sse(objs())

    def h_v1_embeddings(self):
        req = self._json_body()
        inp = req.get("input")
        if isinstance(inp, str):
            inputs = [inp]
        elif isinstance(inp, list) and inp and all(isinstance(x, str) for x in inp):
            inputs = inp
        elif inp is None or inp == []:
            raise _BadRequest(400, "invalid input")
        else:
            raise _BadRequest(400, "invalid input type")
        fmt = req.get("encoding_format")
        if fmt not in (None, "", "float", "base64"):
            raise _BadRequest(
                400, f"invalid encoding format: {fmt!r}; must be 'float' or 'base64'"
            )
        name, m = self._v1_model(req)
        self.fake._touch_loaded(m["name"], None)
        data = []
        for i, x in enumerate(inputs):
            vec = embedding_for(x)
            if fmt == "base64":
                emb = base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode(
                    "ascii"
                )
            else:
                emb = vec
            data.append({"object": "embedding", "embedding": emb, "index": i})
        ptoks = sum(max(_word_count(x), 1) for x in inputs)
        self._send_json(
            200,
            {
                "object": "list",
                "data": data,
                "model": name,
                "usage": {"prompt_tokens": ptoks, "total_tokens": ptoks},
            },
        )

    @staticmethod
    def _v1_model_obj(m):
        name = m["name"]
        owner = name.split("/")[-2] if "/" in name else "library"
        return {
            "id": name,
            "object": "model",
            "created": _unix_of(m.get("modified_at", "")),
            "owned_by": owner,
        }

    def h_v1_models(self):
        with self.fake._lock:
            models = [self._v1_model_obj(m) for m in self.fake.models]
        self._send_json(200, {"object": "list", "data": models or None})

    def h_v1_model(self):
        seg = self.route_path[len("/v1/models/") :]
        name = urllib.parse.unquote(seg)
        m = self._lookup(name)
        if not m:
            raise _BadRequest(404, f"model '{name}' not found")
        obj = self._v1_model_obj(m)
        obj["id"] = name
        self._send_json(200, obj)

    def h_v1_responses(self):
        req = self._json_body()
        name, m = self._v1_model(req)
        self.fake._touch_loaded(m["name"], None)
        n, reason = self._v1_tokens(req, "max_output_tokens")
        inp = req.get("input")
        if isinstance(inp, str):
            ptoks = _word_count(inp)
        elif isinstance(inp, list):
            ptoks = 0
            for item in inp:
                if isinstance(item, dict):
                    c = item.get("content")
                    if isinstance(c, str):
                        ptoks += _word_count(c)
                    elif isinstance(c, list):
                        ptoks += sum(
                            _word_count(p.get("text")) for p in c if isinstance(p, dict)
                        )
        else:
            raise _BadRequest(400, "invalid input")
        ptoks = max(ptoks, 1)
        num = random.randint(0, 998)
        rid, mid = f"resp_{num}", f"msg_{num}"
        created = int(time.time())
        text = expected_text(n)
        usage = {
            "input_tokens": ptoks,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": n,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": ptoks + n,
        }
        status = "completed" if reason == "stop" else "incomplete"

        def resp(st, output, with_usage):
            r = {
                "id": rid,
                "object": "response",
                "created_at": created,
                "status": st,
                "error": None,
                "incomplete_details": {"reason": "max_output_tokens"}
                if st == "incomplete"
                else None,
                "instructions": req.get("instructions"),
                "max_output_tokens": req.get("max_output_tokens"),
                "model": name,
                "output": output,
                "parallel_tool_calls": True,
                "temperature": req.get("temperature", 1.0),
                "tool_choice": "auto",
                "tools": [],
                "top_p": req.get("top_p", 1.0),
                "usage": usage if with_usage else None,
            }
            return r

        def item(st, content):
            return {
                "type": "message",
                "id": mid,
                "status": st,
                "role": "assistant",
                "content": content,
            }

        def part(t):
            return {"type": "output_text", "text": t, "annotations": [], "logprobs": []}

        if not req.get("stream"):
            self._nonstream_pacing(n)
            self._send_json(200, resp(status, [item("completed", [part(text)])], True))
            return

        def events():
            seq = 0

            def ev(etype, **fields):
                nonlocal seq
                o = {"type": etype, "sequence_number": seq}
                o.update(fields)
                seq += 1
                return b"event: " + etype.encode() + b"\ndata: " + _dumps(o) + b"\n\n"

            yield ev("response.created", response=resp("in_progress", [], False))
            yield ev("response.in_progress", response=resp("in_progress", [], False))
            yield ev(
                "response.output_item.added",
                output_index=0,
                item=item("in_progress", []),
            )
            yield ev(
                "response.content_part.added",
                item_id=mid,
                output_index=0,
                content_index=0,
                part=part(""),
            )
            for i in range(n):
                yield ev(
                    "response.output_text.delta",
                    item_id=mid,
                    output_index=0,
                    content_index=0,
                    delta=token_text(i),
                    logprobs=[],
                )
            yield ev(
                "response.output_text.done",
                item_id=mid,
                output_index=0,
                content_index=0,
                text=text,
                logprobs=[],
            )
            yield ev(
                "response.content_part.done",
                item_id=mid,
                output_index=0,
                content_index=0,
                part=part(text),
            )
            yield ev(
                "response.output_item.done",
                output_index=0,
                item=item("completed", [part(text)]),
            )
            done_type = (
                "response.completed" if status == "completed" else "response.incomplete"
            )
            yield ev(
                done_type,
                response=resp(status, [item("completed", [part(text)])], True),
            )

        self._stream(SSE_CT, events())


_H = _Handler
_ROUTES = {
    "/": {"GET": _H.h_root, "HEAD": _H.h_root},
    "/api/version": {"GET": _H.h_version, "HEAD": _H.h_version},
    "/api/status": {"GET": _H.h_status},
    "/api/tags": {"GET": _H.h_tags, "HEAD": _H.h_tags},
    "/api/ps": {"GET": _H.h_ps},
    "/api/show": {"POST": _H.h_show},
    "/api/generate": {"POST": _H.h_generate},
    "/api/chat": {"POST": _H.h_chat},
    "/api/embed": {"POST": _H.h_embed},
    "/api/embeddings": {"POST": _H.h_embeddings},
    "/api/pull": {"POST": _H.h_pull},
    "/api/push": {"POST": _H.h_push},
    "/api/create": {"POST": _H.h_create},
    "/api/copy": {"POST": _H.h_copy},
    "/api/delete": {"DELETE": _H.h_delete},
    "/v1/chat/completions": {"POST": _H.h_v1_chat},
    "/v1/completions": {"POST": _H.h_v1_completions},
    "/v1/embeddings": {"POST": _H.h_v1_embeddings},
    "/v1/models": {"GET": _H.h_v1_models},
    "/v1/responses": {"POST": _H.h_v1_responses},
    "/v1/messages": {"POST": fake_anthropic.h_messages},
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    # a real server's backlog: with the default 5, a burst of parallel streams loses
    # SYNs while the accept thread waits for the GIL, and connects time out
    request_queue_size = 512

    def handle_error(self, request, client_address):  # quieter than default
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, OSError)):
            return
        super().handle_error(request, client_address)


# --------------------------------------------------------------------------
# public object


class FakeOllama:
    """Fake Ollama server running in background threads."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, verbose: bool = False):
        self.host = host
        self.port = port
        self.verbose = verbose
        self.version = VERSION
        self._lock = threading.RLock()
        self._server = None
        self._thread = None
        self._conns = set()
        self.requests = []
        self.first_chunk_sent = threading.Event()
        self.release = threading.Event()
        self.disconnected = threading.Event()
        self._set_defaults()

    # -------------------------------------------------------------- control

    def _set_defaults(self):
        with self._lock:
            self.requests.clear()
            self.epoch = getattr(self, "epoch", 0) + 1
            self.chunk_delay = 0.0
            self.hold_second_chunk = False
            self.fail_mid_stream_after = None
            self.error_mid_stream = None
            self.next_status = None
            self.required_token = None
            self.busy = False
            self.parallel = None  # calls of one model run at once (the rest queue)
            self.prompt_cache_delay = 0.0  # seconds to read a prompt not cached here
            self.prompt_cache = set()  # conversations whose prefix this server holds
            self.max_queue = 512  # calls waiting per model; past it, "server busy"
            self.running = {}  # model -> calls running now
            self.peak_running = {}  # model -> most calls ever running at once
            self.model_slots = {}
            self.gpu = None  # tests/fake_gpu.py's FakeGPU, when a test sets one
            self.response_delay = 0.0
            self.anthropic_ping = False  # /v1/messages sends Anthropic's ``ping``
            self.models = copy.deepcopy(DEFAULT_MODELS)
            self.loaded = list(DEFAULT_LOADED)
            self.blobs = {}
            self.disconnect_count = 0
            self.chunks_sent = 0
            self.streams_started = 0
            self.streams_completed = 0
            self.aborted_count = 0
            self.first_chunk_sent.clear()
            self.release.clear()
            self.disconnected.clear()

    def reset(self):
        """Clear records, counters and events; restore default controls/models."""
        self._set_defaults()

    def start(self) -> FakeOllama:
        self._server = _Server((self.host, self.port), _Handler)
        self._server.fake = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=f"fake-ollama-{self.port}",
        )
        self._thread.start()
        return self

    def stop(self):
        """Stop listening and cut all open connections (held streams are released)."""
        if self._server is None:
            return
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server = None
        if self._thread:
            self._thread.join(timeout=5)
            self._thread = None

    def close_connections(self):
        """Shut down every currently open client connection (keeps listening)."""
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self):
        return self.start() if self._server is None else self

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self) -> str:
        host = self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._conns)

    # --------------------------------------------------------------- models

    def find_model(self, name):
        if not isinstance(name, str) or not name:
            return None
        key = normalize_model_name(name)
        with self._lock:
            for m in self.models:
                if normalize_model_name(m.get("name") or m.get("model", "")) == key:
                    return m
        return None

    def add_model(self, name, capabilities=None, family="llama", **fields):
        """Add (or replace) a model entry; returns it."""
        digest = hashlib.sha256(name.encode()).hexdigest()
        entry = {
            "name": name,
            "model": name,
            "modified_at": "2025-07-01T09:00:00.000000001+02:00",
            "size": 1_000_000_000,
            "digest": digest,
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": family,
                "families": [family],
                "parameter_size": "1B",
                "quantization_level": "Q4_K_M",
            },
            "capabilities": list(capabilities or ["completion", "tools"]),
        }
        entry.update(fields)
        with self._lock:
            self._remove_model(name)
            self.models.append(entry)
        return entry

    def _add_model(self, name, digest, template=None):
        with self._lock:
            if template is not None:
                entry = copy.deepcopy(template)
                entry.update(name=name, model=name)
                if digest:
                    entry["digest"] = digest
                self._remove_model(name)
                self.models.append(entry)
                entry["modified_at"] = _now_rfc3339()
                return entry
            existing = self.find_model(name)
            if existing:
                return existing
            return self.add_model(name, digest=digest, modified_at=_now_rfc3339())

    def _remove_model(self, name):
        key = normalize_model_name(name)
        with self._lock:
            before = len(self.models)
            self.models[:] = [
                m for m in self.models if normalize_model_name(m.get("name", "")) != key
            ]
            self.loaded[:] = [x for x in self.loaded if normalize_model_name(x) != key]
            return len(self.models) != before

    def _touch_loaded(self, name, keep_alive):
        with self._lock:
            self.loaded[:] = [x for x in self.loaded if x != name]
            if keep_alive in (0, "0", "0s"):
                return
            self.loaded.insert(0, name)

    # -------------------------------------------------------------- records

    def _record(self, rec):
        with self._lock:
            self.requests.append(rec)

    def _track(self, conn, add):
        with self._lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def _prompt_cache(self, req: dict) -> None:
        """Wait ``prompt_cache_delay`` for a conversation this server has not seen."""
        messages = req.get("messages")
        if not isinstance(messages, list) or not messages:
            return
        opening = json.dumps(messages[:1], sort_keys=True)  # the conversation
        with self._lock:
            cold = opening not in self.prompt_cache
            self.prompt_cache.add(opening)
        if cold:
            time.sleep(self.prompt_cache_delay)

    @contextlib.contextmanager
    def _scheduled(self, model: str):
        """Run one call of ``model`` within its slots (or say it cannot queue)."""
        key = normalize_model_name(model)
        with self._lock:
            slots = self.model_slots.setdefault(
                key, {"sem": threading.Semaphore(self.parallel), "waiting": 0}
            )
            if slots["waiting"] >= self.max_queue:
                admitted = False
            else:
                admitted = True
                slots["waiting"] += 1
        if not admitted:
            yield False
            return
        slots["sem"].acquire()
        with self._lock:
            slots["waiting"] -= 1
            self.running[key] = self.running.get(key, 0) + 1
            self.peak_running[key] = max(
                self.peak_running.get(key, 0), self.running[key]
            )
        try:
            yield True
        finally:
            with self._lock:
                self.running[key] -= 1
            slots["sem"].release()

    def _take_next_status(self):
        with self._lock:
            ns = self.next_status
            self.next_status = None
            return ns

    def _note_disconnect(self, epoch):
        with self._lock:
            if epoch != self.epoch:  # a stream from before the last reset
                return
            self.disconnect_count += 1
        self.disconnected.set()

    def _count(self, attr, epoch):
        """Count an event of a request that arrived since the last ``reset()``."""
        with self._lock:
            if epoch == self.epoch:
                setattr(self, attr, getattr(self, attr) + 1)

    def calls(self):
        """The requests other than a gateway's health checks (``GET`` of /api/tags,
        /api/ps, /api/version), which a live gateway of another test may make."""
        health = ("/api/tags", "/api/ps", "/api/version")
        with self._lock:
            return [
                r for r in self.requests if not (r.method == "GET" and r.path in health)
            ]

    def requests_to(self, path_prefix="", method=None):
        """Recorded requests whose raw path starts with ``path_prefix``."""
        with self._lock:
            return [
                r
                for r in self.requests
                if r["path"].startswith(path_prefix)
                and (method is None or r["method"] == method)
            ]

    @property
    def last_request(self):
        with self._lock:
            return self.requests[-1] if self.requests else None

    # convenience re-exports
    expected_text = staticmethod(expected_text)
    token_text = staticmethod(token_text)
    embedding_for = staticmethod(embedding_for)
    normalize_model_name = staticmethod(normalize_model_name)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Fake Ollama server")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=11434)
    ap.add_argument("--chunk-delay", type=float, default=0.0)
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    fake = FakeOllama(args.host, args.port, verbose=not args.quiet)
    fake.chunk_delay = args.chunk_delay
    fake.start()
    print(f"fake ollama listening on {fake.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
