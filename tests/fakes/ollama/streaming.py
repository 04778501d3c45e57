"""Writing answers: whole bodies, chunked streams, errors, hang-ups."""

from __future__ import annotations

import json
import select
import socket
import time

from tests.fakes import anthropic as fake_anthropic

from .data import (
    HOLD_TIMEOUT,
    JSON_CT,
    NDJSON_CT,
    SSE_CT,
    _dumps,
)
from .gojson import (
    _go_int,
    _go_json_error,
    _go_request,
)
from .handler import (
    _Aborted,
    _BadRequest,
    _Disconnected,
)


class Streaming:
    """The handler's writing half (a mixin of the request handler)."""

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
