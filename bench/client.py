"""The load client: raw asyncio HTTP/1.1 connections that time and check every answer.

Cheap on CPU on purpose (it shares the machine with the upstream and the gateway): one
protocol object per connection, an incremental parser for Content-Length and chunked
bodies, and a check per answer that does not parse every line: the number of stream
lines (or SSE events) must be the token count plus the final one, the final object must
say ``done`` with the right ``eval_count``, and whole answers must carry the exact text.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from dataclasses import dataclass

from upstream import expected_text


class BadAnswer(Exception):
    """An answer that failed its check (wrong status, count, text or framing)."""


@dataclass
class Result:
    """One call: its start, first body byte and end (perf_counter seconds)."""

    start: float
    first: float = 0.0
    end: float = 0.0
    status: int = 0
    body: bytes = b""
    # when timed per token: (arrival, line ends) of each body chunk, in order
    marks: list | None = None


@dataclass
class Spec:
    """A kind of call: path, JSON body and how its answer is checked."""

    path: str
    body: dict
    tokens: int
    mode: str  # ndjson, sse or whole
    keys: tuple = ("og_unused",)

    def requests(self, host: str) -> list[bytes]:
        """The request bytes, one per API key (calls take them in turn)."""
        data = json.dumps(self.body).encode()
        out = []
        for key in self.keys:
            head = (
                f"POST {self.path} HTTP/1.1\r\nHost: {host}\r\n"
                f"Content-Type: application/json\r\nAuthorization: Bearer {key}\r\n"
                f"Content-Length: {len(data)}\r\n\r\n"
            )
            out.append(head.encode() + data)
        return out

    def check(self, res: Result) -> None:
        """Raise ``BadAnswer`` unless ``res`` is a complete, correct answer."""
        if res.status != 200:
            raise BadAnswer(f"status {res.status}: {res.body[:200]!r}")
        n = self.tokens
        if self.mode == "whole":
            obj = json.loads(res.body)
            text = obj.get("response", obj.get("message", {}).get("content"))
            if (
                not obj.get("done")
                or obj.get("eval_count") != n
                or text != expected_text(n)
            ):
                raise BadAnswer(f"whole answer wrong: {res.body[:200]!r}")
            return
        if self.mode == "sse":
            events = res.body.split(b"\n\n")
            if (
                events[-1] != b""
                or events[-2] != b"data: [DONE]"
                or len(events) != n + 3
            ):
                raise BadAnswer(f"SSE answer has {len(events) - 3} tokens, want {n}")
            return
        lines = res.body.split(b"\n")
        if lines[-1] != b"" or len(lines) != n + 2:
            raise BadAnswer(f"stream has {len(lines) - 2} token lines, want {n}")
        final = json.loads(lines[-2])
        if final.get("done") is not True or final.get("eval_count") != n:
            raise BadAnswer(f"final line wrong: {lines[-2][:200]!r}")


class Conn(asyncio.Protocol):
    """One keep-alive connection; ``call()`` sends a request, awaits its answer."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future | None = None
        self.res: Result | None = None
        self.buf = bytearray()
        self.parts: list[bytes] = []
        self.state = "idle"  # head, length, chunk-size, chunk-data, idle
        self.need = 0
        self.lost: asyncio.Future = asyncio.get_running_loop().create_future()

    @classmethod
    async def open(cls, host: str, port: int) -> Conn:
        """Connect to ``host:port``."""
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(cls, host, port)
        return conn

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.get_extra_info("socket").setsockopt(
            socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
        )

    def connection_lost(self, exc) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(BadAnswer(f"connection lost ({exc})"))

    def close(self) -> None:
        """Close the connection."""
        if self.transport is not None:
            self.transport.close()

    async def call(self, request: bytes, marks: bool = False) -> Result:
        """Send one request; return its answer (status, timings, body; with ``marks``
        the arrival of every chunk too)."""
        self.res = Result(time.perf_counter(), marks=[] if marks else None)
        self.waiter = asyncio.get_running_loop().create_future()
        self.state, self.parts = "head", []
        self.transport.write(request)
        return await self.waiter

    def data_received(self, data: bytes) -> None:
        self.now = time.perf_counter()  # one clock read per arrival, for every chunk
        self.buf += data
        while self._step():
            pass

    def _step(self) -> bool:
        buf, res = self.buf, self.res
        if self.state == "head":
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return False
            head = bytes(buf[:end]).decode("latin-1").split("\r\n")
            del buf[: end + 4]
            res.status = int(head[0].split(" ", 2)[1])
            self.state, self.need = "length", 0
            for line in head[1:]:
                name, _, value = line.partition(":")
                name = name.lower()
                if name == "content-length":
                    self.need = int(value)
                elif name == "transfer-encoding" and "chunked" in value.lower():
                    self.state = "chunk-size"
            if self.state == "length" and self.need == 0:
                self._done()
            return True
        if buf and not res.first:
            res.first = time.perf_counter()
        if self.state == "length":
            if len(buf) < self.need:
                return False
            self.parts.append(bytes(buf[: self.need]))
            del buf[: self.need]
            self._done()
            return True
        if self.state == "chunk-size":
            end = buf.find(b"\r\n")
            if end < 0:
                return False
            self.need = int(bytes(buf[:end]).split(b";")[0], 16)
            del buf[: end + 2]
            self.state = "chunk-data"
            return True
        if self.state == "chunk-data":
            if len(buf) < self.need + 2:
                return False
            if self.need == 0:  # last chunk (no trailers expected)
                del buf[:2]
                self._done()
                return True
            part = bytes(buf[: self.need])
            self.parts.append(part)
            if res.marks is not None:
                res.marks.append((self.now, part.count(b"\n")))
            del buf[: self.need + 2]
            self.state = "chunk-size"
            return True
        return False

    def _done(self) -> None:
        res = self.res
        res.end = time.perf_counter()
        if not res.first:
            res.first = res.end
        res.body = b"".join(self.parts)
        self.state = "idle"
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(res)
