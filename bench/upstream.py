"""A fast fake Ollama for the benchmark: asyncio protocols, no framework, cheap.

It speaks the wire format of ``/work/shared/ollama-api.md`` closely enough for a
proxy: ``/api/generate`` and ``/api/chat`` answer NDJSON with real HTTP/1.1 chunked
framing (one chunk and one write per token, the response head leaving with the first
one as it does from Ollama's gin ``c.Stream``, then a final ``done`` object with its
statistics) or one JSON object when ``"stream": false``; ``/v1/chat/completions``
answers SSE ending in ``data: [DONE]``; ``/api/version`` and ``/`` answer for health
checks, ``/api/tags`` lists the one model with its digest. Connections are kept alive.

Pacing comes from the request itself, so one server serves every workload:
``options.num_predict`` is the number of tokens (default 64) and
``options.bench_delay`` the seconds slept before each token (default 0). With no
delay the server still yields to its event loop between tokens, so concurrent
streams interleave as they do on a real server instead of leaving as one burst; a
whole (``"stream": false``) answer is generated the same way, token by token, and
sent at the end, as Ollama does.

Run: ``python bench/upstream.py --port 11500``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import time
from email.utils import formatdate

DEFAULT_TOKENS = 64
WORDS = [" The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog"]


TAGS = json.dumps(
    {
        "models": [
            {"name": "llama3.2:latest", "model": "llama3.2:latest", "digest": "b" * 64}
        ]
    }
).encode()
PS = json.dumps(
    {"models": [{"name": "llama3.2:latest", "model": "llama3.2:latest"}]}
).encode()


def token(i: int) -> str:
    """The text of token ``i`` (the load client checks answers against it)."""
    return WORDS[i % len(WORDS)]


def expected_text(n: int) -> str:
    """The whole answer of ``n`` tokens."""
    return "".join(token(i) for i in range(n))


def _dumps(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _stats(n: int) -> dict:
    return {
        "total_duration": 5_000_000 + n * 10_000_000,
        "load_duration": 1_000_000,
        "prompt_eval_count": 12,
        "prompt_eval_duration": 2_000_000,
        "eval_count": n,
        "eval_duration": n * 10_000_000,
    }


def _head(status: str, ctype: str, length: int | None) -> bytes:
    framing = (
        f"Content-Length: {length}"
        if length is not None
        else "Transfer-Encoding: chunked"
    )
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
        f"Date: {formatdate(usegmt=True)}\r\n{framing}\r\n\r\n"
    ).encode()


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class Handler(asyncio.Protocol):
    """One client connection: parse requests (Content-Length bodies), answer in turn."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.busy = False
        self.closed = False
        self.can_write: asyncio.Event | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc) -> None:
        self.closed = True
        if self.can_write is not None:
            self.can_write.set()

    def pause_writing(self) -> None:
        self.can_write = asyncio.Event()

    def resume_writing(self) -> None:
        if self.can_write is not None:
            self.can_write.set()
            self.can_write = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.busy:
            self._next()

    def _next(self) -> None:
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        method, target, _ = head[0].split(" ", 2)
        length = 0
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
        if len(self.buf) < end + 4 + length:
            return
        body = bytes(self.buf[end + 4 : end + 4 + length])
        del self.buf[: end + 4 + length]
        self.busy = True
        asyncio.get_running_loop().create_task(self._answer(method, target, body))

    async def _answer(self, method: str, target: str, body: bytes) -> None:
        try:
            await self._route(method, target.split("?", 1)[0], body)
        finally:
            self.busy = False
            if not self.closed and self.buf:
                self._next()

    async def _route(self, method: str, path: str, body: bytes) -> None:
        if (
            path in ("/api/generate", "/api/chat", "/v1/chat/completions")
            and method == "POST"
        ):
            req = json.loads(body or b"{}")
            opts = req.get("options") or {}
            n = int(opts.get("num_predict") or req.get("max_tokens") or DEFAULT_TOKENS)
            delay = float(opts.get("bench_delay") or 0)
            if path == "/v1/chat/completions":
                await self._openai(req, n, delay)
            else:
                await self._native(req, path == "/api/chat", n, delay)
        elif path == "/api/tags":  # the models' digests (the gateway's cache keys)
            self._whole("200 OK", "application/json; charset=utf-8", TAGS)
        elif path == "/api/version":
            self._whole(
                "200 OK", "application/json; charset=utf-8", b'{"version":"0.33.0"}'
            )
        elif path == "/api/tags":  # the gateway's health check and model discovery
            self._whole("200 OK", "application/json; charset=utf-8", TAGS)
        elif path == "/api/ps":
            self._whole("200 OK", "application/json; charset=utf-8", PS)
        elif path == "/":
            self._whole("200 OK", "text/plain; charset=utf-8", b"Ollama is running")
        else:
            self._whole("404 Not Found", "text/plain", b"404 page not found")

    def _whole(self, status: str, ctype: str, data: bytes) -> None:
        self.transport.write(_head(status, ctype, len(data)) + data)

    async def _pace(self, delay: float) -> bool:
        """Wait before the next token; False when the client has gone away."""
        await asyncio.sleep(delay)
        if self.can_write is not None:
            await self.can_write.wait()
        return not self.closed

    async def _native(self, req: dict, chat: bool, n: int, delay: float) -> None:
        model = req.get("model", "bench")
        created = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        stats = {"done": True, "done_reason": "length", **_stats(n)}
        if req.get("stream") is False:
            # Ollama generates a whole answer token by token too; only framing differs
            for _ in range(n):
                if not await self._pace(delay):
                    return
            text = expected_text(n)
            out = {"model": model, "created_at": created}
            out.update(
                {"message": {"role": "assistant", "content": text}}
                if chat
                else {"response": text}
            )
            out.update(stats)
            self._whole("200 OK", "application/json; charset=utf-8", _dumps(out))
            return
        # like Ollama (gin's c.Stream), the head leaves with the first token
        head = _head("200 OK", "application/x-ndjson", None)
        # every line but the token text is the same: build it once per answer
        lead = f'{{"model":{json.dumps(model)},"created_at":"{created}",'.encode()
        if chat:
            lead += b'"message":{"role":"assistant","content":'
            tail = b'},"done":false}\n'
        else:
            lead += b'"response":'
            tail = b',"done":false}\n'
        write = self.transport.write
        for i in range(n):
            if not await self._pace(delay):
                return
            write(head + _chunk(lead + json.dumps(token(i)).encode() + tail))
            head = b""
        final = {"model": model, "created_at": created}
        final.update(
            {"message": {"role": "assistant", "content": ""}}
            if chat
            else {"response": ""}
        )
        final.update(stats)
        write(head + _chunk(_dumps(final) + b"\n"))  # flushed by c.Stream, then
        write(b"0\r\n\r\n")  # Go's server ends the body in a write of its own

    async def _openai(self, req: dict, n: int, delay: float) -> None:
        model = req.get("model", "bench")
        now = int(time.time())
        if not req.get("stream"):
            for _ in range(n):
                if not await self._pace(delay):
                    return
            out = {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": now,
                "model": model,
                "system_fingerprint": "fp_ollama",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": expected_text(n)},
                        "finish_reason": "length",
                    }
                ],
                "usage": {
                    "prompt_tokens": 12,
                    "completion_tokens": n,
                    "total_tokens": 12 + n,
                },
            }
            self._whole("200 OK", "application/json", _dumps(out))
            return
        head = _head("200 OK", "text/event-stream", None)  # with the first token
        lead = (
            f'data: {{"id":"chatcmpl-1","object":"chat.completion.chunk",'
            f'"created":{now},"model":{json.dumps(model)},'
            f'"system_fingerprint":"fp_ollama","choices":[{{"index":0,'
            f'"delta":{{"role":"assistant","content":'
        ).encode()
        tail = b'},"finish_reason":null}]}\n\n'
        write = self.transport.write
        for i in range(n):
            if not await self._pace(delay):
                return
            write(head + _chunk(lead + json.dumps(token(i)).encode() + tail))
            head = b""
        last = lead.replace(b'"content":', b'"content":""},"finish_reason":"length"}]}')
        write(head + _chunk(last + b"\n\n") + _chunk(b"data: [DONE]\n\n"))
        write(b"0\r\n\r\n")


async def serve(host: str, port: int) -> None:
    """Serve until cancelled."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        Handler, host, port, backlog=4096, reuse_address=True
    )
    async with server:
        await server.serve_forever()


def main() -> None:
    """Command line entry: ``--host``, ``--port``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11500)
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.host, args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
