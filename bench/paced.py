"""Paced streams (issue 18): tokens one chunk each, a delay apart, as Ollama sends them.

Each workload holds ``streams`` keep-alive connections, opened before it starts, and
starts one stream on each, spread evenly over ``ramp`` seconds (so the streams run at
once without arriving as one burst; the 2,000-connection burst is ``conc``'s). Every
client then calls ``rounds`` times back to back. Measured: server CPU per stream and
per token over the whole window, time to the first body byte, the gap between one
token line and the next as the client receives them, and the peak RSS.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time

from client import Conn, Result, Spec
from procs import Proc, cpu_seconds, memory_mb
from workloads import generate, pct

# Tokens a stream of paced200 and paced500 (50 by default). Runs at 2 and at 50 give
# a stream's fixed cost and a token's apart (PROFILE.md, "Paced streams").
TOKENS = int(os.environ.get("BENCH_PACED_TOKENS", "50"))


def plan(quick: bool) -> list[dict]:
    """The paced workloads: 200 and 500 streams at 20 ms a token, 1,000 at 1 s."""
    if quick:
        sets = [(20, 10, 0.02, 0.2, 1), (40, 10, 0.02, 0.2, 1), (60, 2, 0.2, 0.2, 1)]
    else:  # streams, tokens, seconds a token, ramp, streams per connection
        sets = [
            (200, TOKENS, 0.02, 1.0, 2),
            (500, TOKENS, 0.02, 1.0, 2),
            (1000, 5, 1.0, 2.0, 1),
        ]
    work = []
    for name, (streams, tokens, delay, ramp, rounds) in zip(
        ("paced200", "paced500", "paced1000"), sets, strict=True
    ):
        work.append(
            {
                "name": name,
                "title": f"{streams} paced streams, {tokens} tokens at "
                f"{delay * 1000:g} ms/token",
                "run": paced,
                "spec": Spec(
                    "/api/generate", generate(tokens, delay), tokens, "ndjson"
                ),
                "args": (streams, ramp, rounds),
                "targets": ("direct", "gateway", "nginx"),
                "paced": True,
            }
        )
    return work


async def open_all(port: int, n: int) -> list[Conn]:
    """``n`` connections, opened a hundred at a time (no SYN flood)."""
    conns: list[Conn] = []
    while len(conns) < n:
        batch = min(100, n - len(conns))
        conns += await asyncio.gather(
            *(Conn.open("127.0.0.1", port) for _ in range(batch))
        )
    return conns


def token_times(res: Result, tokens: int) -> list[float]:
    """The arrival of each of the first ``tokens`` lines (a chunk's lines share it)."""
    out: list[float] = []
    for when, lines in res.marks:
        out.extend([when] * lines)
    return out[:tokens]


async def paced(
    target: Proc, spec: Spec, streams: int, ramp: float, rounds: int
) -> dict:
    """``streams`` paced streams at once, started over ``ramp`` s, ``rounds`` each."""
    reqs = itertools.cycle(spec.requests(f"127.0.0.1:{target.port}"))
    conns = await open_all(target.port, streams)
    pids = target.pids()
    peak = {"rss": memory_mb(pids)}
    stop = asyncio.Event()

    async def sample() -> None:
        while not stop.is_set():
            peak["rss"] = max(peak["rss"], memory_mb(pids))
            try:
                await asyncio.wait_for(stop.wait(), 0.1)
            except TimeoutError:
                pass

    async def client(i: int, conn: Conn) -> list[Result]:
        await asyncio.sleep(ramp * i / streams)
        out = []
        for _ in range(rounds):
            res = await conn.call(next(reqs), marks=True)
            spec.check(res)
            out.append(res)
        return out

    sampler = asyncio.create_task(sample())
    cpu0, t0 = cpu_seconds(pids), time.perf_counter()
    got = await asyncio.gather(
        *(client(i, c) for i, c in enumerate(conns)), return_exceptions=True
    )
    cpu1, elapsed = cpu_seconds(pids), time.perf_counter() - t0
    stop.set()
    await sampler
    for conn in conns:
        conn.close()
    ok = [r for g in got if isinstance(g, list) for r in g]
    errors = [repr(g) for g in got if not isinstance(g, list)]
    firsts = [1000 * (r.first - r.start) for r in ok]
    gaps = []
    for r in ok:
        times = token_times(r, spec.tokens)
        gaps += [1000 * (b - a) for a, b in zip(times, times[1:], strict=False)]
    cpu_ms = 1000 * (cpu1 - cpu0)
    return {
        "calls": len(ok),
        "checked": len(ok),
        "errors": len(errors),
        "error_sample": errors[:3],
        "streams": streams * rounds,
        "completed": len(ok),
        "seconds": elapsed,
        "cpu_ms_per_stream": cpu_ms / max(len(ok), 1),
        "cpu_us_per_token": 1000 * cpu_ms / max(len(ok) * spec.tokens, 1),
        "first_p50_ms": pct(firsts, 0.5),
        "first_p99_ms": pct(firsts, 0.99),
        "gap_p50_ms": pct(gaps, 0.5),
        "gap_p99_ms": pct(gaps, 0.99),
        "peak_rss_mb": peak["rss"],
    }
