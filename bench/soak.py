"""Soak: hundreds of paced streams for minutes through the real gateway, with keys,
limits and history on; then every call accounted for.

Streams are paced as Ollama sends them (one token per chunk, 20 ms apart, 50 tokens).
Some calls hang up after their first token; one key has a quota of two calls, so its
calls must be answered twice and refused after. At the end: every answer checked,
every call (hang-ups and refusals included) has its history record, the worker's file
descriptors are back where they started, and its memory after warm-up stays flat.

Run: ``python bench/soak.py`` (10 minutes, 300 streams; writes bench/SOAK.md) or
``--seconds 20 --streams 40 --out -`` for the short form the test suite runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from client import BadAnswer, Conn, Spec  # noqa: E402
from procs import ROOT, Gateway, Upstream, memory_mb  # noqa: E402

TOKENS, DELAY, HANG_UP_EVERY, TIGHT_QUOTA = 50, 0.02, 10, 2
BODY = {
    "model": "m",
    "prompt": "soak",
    "options": {"num_predict": TOKENS, "bench_delay": DELAY},
}


class Tally:
    """What the load saw, call by call."""

    def __init__(self) -> None:
        self.ok = self.hung_up = self.refused = self.tight_ok = 0
        self.bad: list[str] = []

    @property
    def calls(self) -> int:
        return self.ok + self.hung_up + self.refused + self.tight_ok + len(self.bad)


async def stream_loop(port, keys, tight, deadline, tally, n):
    """One client: paced streams back to back; every tenth hangs up early."""
    spec = Spec("/api/generate", BODY, TOKENS, "ndjson", tuple(keys))
    requests = spec.requests(f"127.0.0.1:{port}")
    tight_request = Spec("/api/generate", BODY, TOKENS, "ndjson", (tight,)).requests(
        f"127.0.0.1:{port}"
    )[0]
    conn, i = await Conn.open("127.0.0.1", port), n
    while time.monotonic() < deadline:
        i += 1
        if i % HANG_UP_EVERY == 0:
            await hang_up(port, requests[i % len(requests)])
            tally.hung_up += 1
            continue
        if n == 0 and i % 3 == 0:  # one client spends the tight key's quota
            res = await conn.call(tight_request)
            if res.status == 200 and tally.tight_ok < TIGHT_QUOTA:
                tally.tight_ok += 1
            elif res.status == 429 and tally.tight_ok == TIGHT_QUOTA:
                tally.refused += 1
            else:
                tally.bad.append(f"tight key: {res.status} after {tally.tight_ok}")
            continue
        try:
            spec.check(await conn.call(requests[i % len(requests)]))
            tally.ok += 1
        except BadAnswer as exc:
            tally.bad.append(str(exc))
            conn.close()
            conn = await Conn.open("127.0.0.1", port)
    conn.close()


async def hang_up(port: int, request: bytes) -> None:
    """Send a streamed call, read its first bytes, and go away."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await reader.read(512)
    writer.close()


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def client_sockets(pid: int, port: int) -> int:
    """The worker's open TCP connections on the gateway's port (not the listener):
    after the load they must all be closed. Pooled upstream connections stay open
    on purpose and are not counted."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                parts = line.split()
                local_port = int(parts[1].rsplit(":", 1)[1], 16)
                listening = parts[3] == "0A"
                if parts[9] in inodes and local_port == port and not listening:
                    count += 1
    return count


def records(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("select count(*) from history_requests").fetchone()[0]


async def soak(args) -> tuple[dict, list[str]]:
    tmp = Path(tempfile.mkdtemp(prefix="og-soak-"))
    upstream = Upstream().start()
    gateway = Gateway("gateway", tmp, f"http://127.0.0.1:{upstream.port}", {})
    gateway.start()
    try:
        worker = gateway.pids()[-1]
        tight = gateway.keys.pop()
        gateway.flask("keys", "set", tight[:11], "--calls-per-day", str(TIGHT_QUOTA))
        fds_before, tally, samples = fds(worker), Tally(), []
        deadline = time.monotonic() + args.seconds
        loops = [
            stream_loop(gateway.port, gateway.keys, tight, deadline, tally, n)
            for n in range(args.streams)
        ]

        async def sample():
            while time.monotonic() < deadline:
                samples.append(memory_mb([worker]))
                await asyncio.sleep(max(1.0, args.seconds / 60))

        await asyncio.gather(sample(), *loops)
        await asyncio.sleep(2)  # hang-ups noticed, records flushed
        for _ in range(100):
            if records(tmp / "gate.db") >= tally.calls:
                break
            await asyncio.sleep(0.2)
        warm = samples[len(samples) // 4] if samples else 0.0
        figures = {
            "seconds": args.seconds,
            "streams": args.streams,
            "calls": tally.calls,
            "answered": tally.ok + tally.tight_ok,
            "hung up": tally.hung_up,
            "refused (quota)": tally.refused,
            "bad answers": len(tally.bad),
            "records": records(tmp / "gate.db"),
            "worker fds before / after (pooled upstream connections stay)": (
                f"{fds_before} / {fds(worker)}"
            ),
            "client connections left open": client_sockets(worker, gateway.port),
            "RSS after warm-up / peak / end (MB)": " / ".join(
                f"{mb:.0f}"
                for mb in (warm, max(samples, default=0), memory_mb([worker]))
            ),
        }
        problems = list(tally.bad[:5])
        if figures["records"] != tally.calls:
            problems.append(f"{figures['records']} records for {tally.calls} calls")
        if figures["client connections left open"]:
            problems.append("client connections leaked")
        if fds(worker) > fds_before + args.streams + 5:  # at most one pooled each
            problems.append(f"file descriptors leaked: {fds_before} -> {fds(worker)}")
        if samples and memory_mb([worker]) > warm * 1.3 + 10:
            problems.append("memory grew after warm-up")
        if not tally.refused:
            problems.append("the tight key was never refused")
        return figures, problems
    finally:
        gateway.stop()
        upstream.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--streams", type=int, default=300)
    parser.add_argument("--out", default=str(ROOT / "bench" / "SOAK.md"))
    args = parser.parse_args()
    figures, problems = asyncio.run(soak(args))
    lines = ["# Soak", "", f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", ""]
    lines += ["| figure | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in figures.items()]
    lines += ["", "Problems: " + ("; ".join(problems) if problems else "none"), ""]
    text = "\n".join(lines)
    if args.out == "-":
        print(text)
    else:
        Path(args.out).write_text(text)
        print(text)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
