"""The cluster bench's load: tenants' streamed calls over keep-alive connections to
the two hosts, each call named by its prompt (``tenant/host/n``) so the fake's
records and the client's are matched, and each answer checked.

Two shapes: ``closed`` connections that call again as soon as an answer ends (a
flood, or a tenant kept busy; ``think`` seconds between calls), and ``paced`` calls,
one every ``every`` seconds on a connection of its own (a quiet tenant).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass

from client import Conn, Result

QUEUE_HEADER = b"x-ollama-gate-queue-ms:"
SEQ = itertools.count()


@dataclass
class Call:
    """One call as the client saw it."""

    tenant: str
    host: int  # index of the host it was sent to
    tag: str
    start: float  # perf_counter seconds
    ttft: float = 0.0  # seconds to the first body byte (the first token line)
    total: float = 0.0
    queue_ms: float | None = None  # the gateway's own X-Ollama-Gate-Queue-Ms
    ok: bool = False
    sent: float = 0.0  # wall clock (the fake's records are wall clock)


class TimedConn(Conn):
    """A ``Conn`` that also reads the gateway's queue header off each answer."""

    queue_ms: float | None = None

    def _step(self) -> bool:
        if self.state == "head":
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                head = bytes(self.buf[:end]).lower()
                at = head.find(QUEUE_HEADER)
                self.queue_ms = None
                if at >= 0:
                    value = head[at + len(QUEUE_HEADER) :].split(b"\r\n", 1)[0]
                    self.queue_ms = float(value.strip())
        return super()._step()


def request(host: str, key: str, tag: str, tokens: int, batch: bool) -> bytes:
    """A streamed ``/api/generate`` of ``tokens`` tokens whose prompt is ``tag``."""
    body = json.dumps(
        {"model": "llama3.2", "prompt": tag, "options": {"num_predict": tokens}}
    ).encode()
    extra = "X-Ollama-Gate-Priority: batch\r\n" if batch else ""
    return (
        f"POST /api/generate HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: application/json\r\nAuthorization: Bearer {key}\r\n{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def good(res: Result, tokens: int) -> bool:
    """A complete stream: ``tokens`` token lines and a final ``done`` line."""
    lines = res.body.split(b"\n")
    if res.status != 200 or lines[-1] != b"" or len(lines) != tokens + 2:
        return False
    final = json.loads(lines[-2])
    return final.get("done") is True and final.get("eval_count") == tokens


class Load:
    """Tenants' calls against the hosts' ports; ``calls`` collects every one."""

    def __init__(self, ports: list[int], keys: dict[str, str]) -> None:
        self.ports, self.keys = ports, keys
        self.calls: list[Call] = []

    async def one(
        self, conn: TimedConn, tenant: str, host: int, tokens: int, batch: bool
    ) -> Call:
        """One call on ``conn``, timed, checked and recorded."""
        tag = f"{tenant}/{host}/{next(SEQ)}"
        call = Call(tenant, host, tag, time.perf_counter())
        self.calls.append(call)
        where = f"127.0.0.1:{self.ports[host]}"
        raw = request(where, self.keys[tenant], tag, tokens, batch)
        call.sent = time.time()
        try:
            res = await asyncio.wait_for(conn.call(raw), 300)
        except Exception:  # noqa: BLE001 - a lost or stuck call counts as failed
            conn.close()
            return call
        call.ttft, call.total = res.first - res.start, res.end - res.start
        call.queue_ms, call.ok = conn.queue_ms, good(res, tokens)
        return call

    async def closed(self, tenant, host, seconds, tokens, think=0.0, batch=False):
        """Call back to back on one connection to ``host`` for ``seconds``."""
        conn = await TimedConn.open("127.0.0.1", self.ports[host])
        stop = time.perf_counter() + seconds
        try:
            while time.perf_counter() < stop:
                if not (await self.one(conn, tenant, host, tokens, batch)).total:
                    conn = await TimedConn.open("127.0.0.1", self.ports[host])
                if think:
                    await asyncio.sleep(think)
        finally:
            conn.close()

    async def paced(self, tenant, count, every, tokens, delay=0.0, batch=False):
        """``count`` calls ``every`` seconds apart, each on a new connection, to the
        hosts in turn."""
        await asyncio.sleep(delay)
        tasks = []
        t0 = time.perf_counter()
        for i in range(count):
            await asyncio.sleep(max(0.0, t0 + i * every - time.perf_counter()))
            tasks.append(asyncio.create_task(self._fresh(tenant, i % 2, tokens, batch)))
        await asyncio.gather(*tasks)

    async def _fresh(self, tenant, host, tokens, batch) -> None:
        conn = await TimedConn.open("127.0.0.1", self.ports[host])
        try:
            await self.one(conn, tenant, host, tokens, batch)
        finally:
            conn.close()

    def flood(
        self, tenant, streams, seconds, tokens, think=0.0, batch=False, hosts=(0, 1)
    ):
        """``streams`` closed connections spread over ``hosts`` (coroutines)."""
        return [
            self.closed(tenant, hosts[i % len(hosts)], seconds, tokens, think, batch)
            for i in range(streams)
        ]

    def of(self, tenant: str) -> list[Call]:
        return [c for c in self.calls if c.tenant == tenant]
