"""Memory of the gateway worker per idle kept-alive connection and per stream in flight.

``python bench/memory.py --conns 500`` starts the fake upstream and a default gateway,
warms it, then opens ``--conns`` connections that each make one whole call and stay
open (idle, kept alive), then starts a slow stream on each: first while every one
waits for its answer's head (the fake upstream, like Ollama, sends it with the first
token, ``--delay`` seconds on), then once every one has its first token (the second
is as far away): the worker's RSS at each point, divided by the connections, is what
an idle connection, a call waiting for its upstream and a stream being relayed cost.

``--tracemalloc`` also runs the worker under ``tracemalloc`` (``PYTHONTRACEMALLOC``)
and prints the Python allocations that grew at each step, by line (a greenlet's saved
C stack is not among them: RSS holds it). ``--env NAME=VALUE`` for the gateway.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from client import Spec  # noqa: E402
from paced import open_all  # noqa: E402
from procs import ROOT, Gateway, Upstream, children, memory_mb  # noqa: E402
from workloads import generate  # noqa: E402

SITE = Path(__file__).resolve().parent / "memsite"  # the worker's snapshot signal


def rss(pid: int) -> float:
    """The worker's resident set in MB."""
    return memory_mb([pid])


async def measure(gw: Gateway, n: int, delay: float, dumps: Path | None) -> dict:
    """RSS after warming, with ``n`` idle connections, with ``n`` streams in flight."""
    worker = children(gw.proc.pid)[0]
    whole = Spec(
        "/api/generate", generate(64, stream=False), 64, "whole", tuple(gw.keys)
    )
    slow = Spec("/api/generate", generate(2, delay), 2, "ndjson", tuple(gw.keys))
    host = f"127.0.0.1:{gw.port}"

    async def snap(label: str) -> float:
        await asyncio.sleep(2.5)  # the recorder's batches written, heap trimmed
        if dumps:
            os.kill(worker, signal.SIGRTMIN + 3)
            await asyncio.sleep(3)  # the snapshot is taken on a loop turn, then dumped
        value = rss(worker)
        print(f"{label:34s} worker RSS {value:7.1f} MB", flush=True)
        return value

    warm = await open_all(gw.port, 16)
    reqs = whole.requests(host)
    for i in range(20):  # every key looked up, the pools and caches warm
        await asyncio.gather(
            *(c.call(reqs[(i * 16 + j) % len(reqs)]) for j, c in enumerate(warm))
        )
    for c in warm:
        c.close()
    base = await snap("warm, no connection")
    conns = await open_all(gw.port, n)
    for i in range(0, n, 100):  # one whole call each, then they stay open
        await asyncio.gather(
            *(
                c.call(reqs[(i + j) % len(reqs)])
                for j, c in enumerate(conns[i : i + 100])
            )
        )
    idle = await snap(f"{n} idle kept-alive connections")
    sreqs = slow.requests(host)
    t0 = time.monotonic()
    calls = [
        asyncio.ensure_future(c.call(sreqs[i % len(sreqs)]))
        for i, c in enumerate(conns)
    ]
    await asyncio.sleep(0)  # each call started: ``c.res`` is the stream's own now
    waiting = await snap(f"{n} calls waiting for the head")
    if time.monotonic() - t0 > delay * 0.8:
        raise RuntimeError("--delay too short: the heads may have come")
    while not all(c.res.first for c in conns):
        await asyncio.sleep(0.05)
        if time.monotonic() - t0 > delay * 1.5:
            raise RuntimeError("not every stream had its first token in time")
    flight = await snap(f"{n} streams relayed (1st token)")
    if time.monotonic() - t0 > delay * 1.9:
        raise RuntimeError("--delay too short: the second token may have come")
    for res in await asyncio.gather(*calls):
        slow.check(res)
    for c in conns:
        c.close()
    return {
        "warm_mb": base,
        "idle_kb_per_conn": 1024 * (idle - base) / n,
        "waiting_kb_per_call": 1024 * (waiting - idle) / n,
        "stream_kb_per_stream": 1024 * (flight - idle) / n,
    }


def diff(dumps: Path, top: int, frames: int) -> None:
    """The allocation lines that grew between the snapshots, per connection (with
    ``frames`` > 1: by the allocations' last ``frames`` calls)."""
    snaps = sorted(dumps.glob("*.snap"))
    names = ("idle connections", "calls waiting for the head", "streams relayed")
    key = "traceback" if frames > 1 else "lineno"
    bases = [snaps[0], snaps[1], snaps[1]]  # a stream's cost: against idle
    for name, a, b in zip(names, bases, snaps[1:], strict=False):
        stats = tracemalloc.Snapshot.load(b).compare_to(
            tracemalloc.Snapshot.load(a), key
        )
        total = sum(s.size_diff for s in stats)
        print(f"\ntracemalloc, {name}: {total / 1024:.0f} KB in all")
        for s in stats[:top]:
            print(f"  {s.size_diff / 1024:8.1f} KB {s.count_diff:7d}  {s.traceback[0]}")
            for frame in list(s.traceback)[1:frames]:
                print(f"  {'':25s}{frame}")


def main() -> None:
    """Command line entry."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conns", type=int, default=500)
    parser.add_argument("--delay", type=float, default=15.0, help="seconds a token")
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--frames", type=int, default=1, help="calls shown per allocation"
    )
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE")
    parser.add_argument("--root", type=Path, help="run another checkout's gateway")
    args = parser.parse_args()
    env = dict(e.split("=", 1) for e in args.env)
    tmp = Path(tempfile.mkdtemp(prefix="ollama-gate-memory-"))
    dumps = None
    if args.tracemalloc:
        dumps = tmp / "dumps"
        dumps.mkdir()
        env.update(
            PYTHONTRACEMALLOC=str(max(1, args.frames)),
            PYTHONPATH=os.pathsep.join(
                filter(None, [str(SITE), os.environ.get("PYTHONPATH")])
            ),
            MEM_DUMP_DIR=str(dumps),
        )
    up = Upstream().start()
    gw = None
    try:
        backend = f"http://127.0.0.1:{up.port}"
        root = args.root or ROOT
        gw = Gateway("gateway", tmp / "gw", backend, env, root=root).start()
        out = asyncio.run(measure(gw, args.conns, args.delay, dumps))
        print({k: round(v, 1) for k, v in out.items()})
        if dumps:
            diff(dumps, args.top, args.frames)
    finally:
        if gw:
            gw.stop()
        up.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
