"""Profile the gateway worker under one workload with py-spy (``pip install py-spy``).

``python bench/profile.py stream64 --seconds 8`` starts the fake upstream and a default
gateway, drives the workload while ``py-spy record`` samples the gunicorn worker, and
prints the functions with the most samples, inclusive and self (collapsed stacks in
``bench/raw/profile-<workload>.txt``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from client import Spec  # noqa: E402
from paced import paced  # noqa: E402
from paced import plan as paced_plan  # noqa: E402
from procs import ROOT, Gateway, Upstream, children  # noqa: E402
from run import plan  # noqa: E402
from workloads import concurrent, throughput  # noqa: E402


def top(path: Path, n: int) -> str:
    """The ``n`` functions with most samples (inclusive, self) in collapsed stacks."""
    incl, self_, total = Counter(), Counter(), 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():  # a frame name with spaces in it, cut by py-spy
            continue
        frames = [
            f.split(" (")[0] + " " + f.rsplit("/", 1)[-1].rstrip(")")
            for f in stack.split(";")
        ]
        c = int(count)
        total += c
        for f in set(frames):
            incl[f] += c
        self_[frames[-1]] += c
    out = [f"{total} samples", "inclusive:"]
    out += [f"  {100 * c / total:5.1f}%  {f}" for f, c in incl.most_common(n)]
    out += ["self:"] + [
        f"  {100 * c / total:5.1f}%  {f}" for f, c in self_.most_common(n)
    ]
    return "\n".join(out)


# The parts of the worker, each owning a frame pattern; a sample belongs to the part of
# the innermost frame on its stack that matches one (so the recorder's SQLAlchemy time
# counts as history, the view's urllib3 time as upstream).
PARTS = [
    ("recorder: history rows", ("HistoryHook.",)),
    ("recorder: quota usage", ("Quotas.record",)),
    ("recorder: summary of the answer", ("summarise", "proxy/summary.py")),
    ("recorder: keys' last use, batching", ("touch_keys", "Recorder.")),
    ("limits: rate limit, quotas, access, concurrency", ("Limits.admit",)),
    ("key lookup (cached)", ("authenticate ",)),
    (
        "relay: read the upstream, forward what is there",
        ("relay ", "iter_available", "upstream/chunked.py", "upstream/reader.py"),
    ),
    (
        "upstream: request and response head (urllib3, http.client)",
        ("Upstream.send", "Upstream.read_whole", "ollama_gate/upstream/"),
    ),
    ("proxy views: body, headers, call record", ("ollama_gate/proxy/",)),
    ("Flask and Werkzeug: contexts, routing, response", ("flask/", "werkzeug/")),
    (
        "server: pywsgi / gunicorn, parse and write",
        ("gevent/pywsgi", "gunicorn", "ollama_gate/server/"),
    ),
]


def parts(path: Path) -> str:
    """The share of the worker's samples in each part of ``PARTS`` (rest: gevent hub,
    sockets, and anything unclaimed)."""
    counts, total = Counter(), 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        total += int(count)
        frames = stack.split(";")
        owner = "other: gevent hub and timers, socket calls, garbage collection"
        for frame in reversed(frames):
            hit = next((n for n, pats in PARTS if any(p in frame for p in pats)), None)
            if hit:
                owner = hit
                break
        counts[owner] += int(count)
    return "\n".join(
        f"  {100 * c / total:5.1f}%  {name}" for name, c in counts.most_common()
    )


async def drive(gw: Gateway, work: dict, seconds: float) -> dict:
    """Run the workload's load against the gateway for ``seconds``."""
    spec = work["spec"]
    spec = Spec(spec.path, spec.body, spec.tokens, spec.mode, tuple(gw.keys))
    if work["name"].startswith("paced"):  # as many rounds as fill the seconds
        streams, ramp, _ = work["args"]
        await asyncio.sleep(0.5)  # let py-spy attach
        return await paced(gw, spec, streams, ramp, max(1, int(seconds) - 1))
    if work["name"] == "conc":
        await asyncio.sleep(0.5)  # let py-spy attach
        return await concurrent(gw, spec, *work["args"])
    return await throughput(gw, spec, 16, seconds, 0.5)


def main() -> None:
    """Command line entry."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = ["stream64", "whole", "sse64", "conc", "paced200", "paced500", "paced1000"]
    parser.add_argument("workload", choices=names)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--top", type=int, default=45)
    parser.add_argument("--rate", type=int, default=500, help="py-spy samples a second")
    parser.add_argument(
        "--env", action="append", default=[], help="NAME=VALUE for the gateway"
    )
    args = parser.parse_args()
    work = {w["name"]: w for w in plan(False) + paced_plan(False)}[args.workload]
    env = dict(e.split("=", 1) for e in args.env)
    tmp = Path(tempfile.mkdtemp(prefix="ollama-gate-profile-"))
    up = Upstream().start()
    gw = None
    try:
        gw = Gateway("gateway", tmp, f"http://127.0.0.1:{up.port}", env).start()
        worker = children(gw.proc.pid)[0]
        out = ROOT / "bench" / "raw" / f"profile-{args.workload}.txt"
        out.parent.mkdir(exist_ok=True)
        spy = subprocess.Popen(
            [
                shutil.which("py-spy")
                or os.path.join(os.path.dirname(sys.executable), "py-spy"),
                "record",
                "--pid",
                str(worker),
                "--format",
                "raw",
                "--rate",
                str(args.rate),
                "--duration",
                str(int(args.seconds)),
                "--output",
                str(out),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        res = asyncio.run(drive(gw, work, args.seconds))
        spy.wait(30)
        print({k: v for k, v in res.items() if k != "error_sample"})
        print(top(out, args.top))
        print("parts of the worker:")
        print(parts(out))
    finally:
        if gw:
            gw.stop()
        up.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
