"""The workloads of issue 6, each measured against one target (direct or a gateway)."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time

from client import BadAnswer, Conn, Result, Spec
from procs import Proc, cpu_seconds, memory_mb


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def generate(tokens: int, delay: float = 0.0, stream: bool = True) -> dict:
    """An ``/api/generate`` body asking the fake upstream for ``tokens`` tokens."""
    options = {"num_predict": tokens, **({"bench_delay": delay} if delay else {})}
    return {
        "model": "llama3.2",
        "prompt": "Why is the sky blue?",
        "stream": stream,
        "options": options,
    }


async def throughput(
    target: Proc, spec: Spec, clients: int, seconds: float, warm: float
) -> dict:
    """``clients`` keep-alive connections calling back to back: calls/s, CPU a call."""
    reqs = itertools.cycle(spec.requests(f"127.0.0.1:{target.port}"))
    conns = [await Conn.open("127.0.0.1", target.port) for _ in range(clients)]
    window = {"start": float("inf"), "end": float("inf")}
    done: list[float] = []
    errors: list[str] = []

    async def worker(conn: Conn) -> None:
        while time.perf_counter() < window["end"]:
            try:
                res = await conn.call(next(reqs))
                spec.check(res)
                done.append(res.end)
            except (BadAnswer, ValueError) as exc:
                errors.append(str(exc))
                return

    tasks = [asyncio.create_task(worker(c)) for c in conns]
    await asyncio.sleep(warm)
    pids = target.pids()
    cpu0, window["start"] = cpu_seconds(pids), time.perf_counter()
    window["end"] = window["start"] + seconds
    await asyncio.sleep(seconds)
    cpu1, end = cpu_seconds(pids), time.perf_counter()
    await asyncio.gather(*tasks)
    for conn in conns:
        conn.close()
    calls = sum(1 for t in done if window["start"] <= t <= end)
    elapsed = end - window["start"]
    return {
        "calls": calls,
        "checked": len(done),
        "errors": len(errors),
        "error_sample": errors[:3],
        "calls_per_s": calls / elapsed,
        "tokens_per_s": calls * spec.tokens / elapsed,
        "cpu_ms_per_call": 1000 * (cpu1 - cpu0) / max(calls, 1),
    }


async def first_token(target: Proc, spec: Spec, calls: int) -> dict:
    """One client, one call at a time: time to the first body byte, and to the last."""
    reqs = itertools.cycle(spec.requests(f"127.0.0.1:{target.port}"))
    conn = await Conn.open("127.0.0.1", target.port)
    ttft, total, errors = [], [], []
    for i in range(calls + 2):
        res = await conn.call(next(reqs))
        try:
            spec.check(res)
        except (BadAnswer, ValueError) as exc:
            errors.append(str(exc))
            continue
        if i >= 2:  # the first calls warm the pools and the key cache
            ttft.append(1000 * (res.first - res.start))
            total.append(1000 * (res.end - res.start))
    conn.close()
    return {
        "calls": len(ttft),
        "checked": len(ttft),
        "errors": len(errors),
        "error_sample": errors[:3],
        "ttft_p50_ms": statistics.median(ttft),
        "ttft_p90_ms": pct(ttft, 0.9),
        "total_p50_ms": statistics.median(total),
    }


async def concurrent(target: Proc, spec: Spec, streams: int) -> dict:
    """``streams`` new connections at once, one slow stream each; all must complete."""
    reqs = itertools.cycle(spec.requests(f"127.0.0.1:{target.port}"))
    peak = {"rss": 0.0}
    stop = asyncio.Event()

    async def sample() -> None:
        while not stop.is_set():
            peak["rss"] = max(peak["rss"], memory_mb(target.pids()))
            try:
                await asyncio.wait_for(stop.wait(), 0.25)
            except TimeoutError:
                pass

    async def one() -> Result:
        start = time.perf_counter()
        conn = await Conn.open("127.0.0.1", target.port)
        try:
            res = await conn.call(next(reqs))
        finally:
            conn.close()
        res.start = start  # count the connection set-up in the time to first token
        spec.check(res)
        return res

    sampler = asyncio.create_task(sample())
    pids = target.pids()
    cpu0 = cpu_seconds(pids)
    results = await asyncio.gather(
        *(one() for _ in range(streams)), return_exceptions=True
    )
    cpu1 = cpu_seconds(pids)
    stop.set()
    await sampler
    ok = [r for r in results if isinstance(r, Result)]
    errors = [repr(r) for r in results if not isinstance(r, Result)]
    firsts = [1000 * (r.first - r.start) for r in ok]
    return {
        "calls": len(ok),
        "checked": len(ok),
        "errors": len(errors),
        "error_sample": errors[:3],
        "streams": streams,
        "completed": len(ok),
        "first_p50_ms": pct(firsts, 0.5),
        "first_p99_ms": pct(firsts, 0.99),
        "peak_rss_mb": peak["rss"],
        "hwm_mb": memory_mb(target.pids(), "VmHWM"),
        "cpu_ms_per_call": 1000 * (cpu1 - cpu0) / max(len(ok), 1),
    }


async def cache_hit(target: Proc, spec: Spec, calls: int) -> dict:
    """One client calling one deterministic request again and again: once cached, every
    call is a hit. The whole answer's latency; for a gateway, the hits it counted."""
    reqs = itertools.cycle(spec.requests(f"127.0.0.1:{target.port}"))
    conn = await Conn.open("127.0.0.1", target.port)
    spec.check(await conn.call(next(reqs)))  # the miss, stored in the background
    await asyncio.sleep(1.5)  # past the recorder's batch interval
    counted = getattr(target, "cache_hits", None)
    before = counted() if counted else 0
    total, errors = [], []
    for _ in range(calls):
        res = await conn.call(next(reqs))
        try:
            spec.check(res)
            total.append(1000 * (res.end - res.start))
        except (BadAnswer, ValueError) as exc:
            errors.append(str(exc))
    conn.close()
    hits = None
    if counted:
        await asyncio.sleep(1.0)  # the last hits are counted in the background
        hits = counted() - before
        if hits != calls:
            errors.append(f"{hits} of {calls} calls were cache hits")
    return {
        "calls": len(total),
        "checked": len(total),
        "errors": len(errors),
        "error_sample": errors[:3],
        "total_p50_ms": statistics.median(total) if total else float("nan"),
        "total_p90_ms": pct(total, 0.9),
        **({"hits": hits} if hits is not None else {}),
    }
