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
import re
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


# The stages of one call, for ``--stages``: a sample goes to the innermost frame that
# matches a pattern (a stage's own step, e.g. ``Limits.admit``, is named by the regular
# expression ``STEP``); the order within a frame decides between patterns.
STEP = re.compile(r"^(\w+)\.(admit|answer|route|filter|stream|release|record) \(")
STAGES = [
    ("7 step: Summary.record", ("proxy/summary.py",)),
    (
        "1 head: read the request line and headers",
        ("read_request", "read_requestline", "get_environ", "server/headers.py"),
    ),
    (
        "3 auth: key from the headers, cached lookup",
        ("authenticate (", "key_from_headers"),
    ),
    ("4 call opened: Call, request id, endpoint", ("start_call", "Call.__init__")),
    (
        "5 body: read, parse, re-serialise",
        ("read_body", "outgoing_body", "server/body.py"),
    ),
    (
        "8 headers: to and from upstream, stage headers",
        ("forward_headers", "response_headers", "with_stage_headers", "hops."),
    ),
    (
        "9 upstream: send, answer's head (urllib3, http.client)",
        ("Upstream.send", "Upstream.read_whole", "Attempts.send"),
    ),
    (
        "10 relay: read upstream, forward chunks",
        (
            "relay.py",
            "upstream/reader.py",
            "upstream/chunked.py",
            "upstream/pieces.py",
            "upstream/cut.py",
            "Relay.",
        ),
    ),
    ("11 finish: release and hand to the recorder", ("Gate.finish",)),
    (
        "12 write: response head and body",
        (
            "process_result",
            "_write_with_headers",
            "_sendall",
            "_send_now",
            "WSGIHandler.write",
            "finalize_headers",
            "start_response",
        ),
    ),
    (
        "9 upstream: send, answer's head (urllib3, http.client)",
        ("ollama_gate/upstream/", "urllib3/", "http/client.py", "requests/"),
    ),
    ("6 view: the rest of proxy/views.py", ("ollama_gate/proxy/",)),
    (
        "2 app: Flask and Werkzeug, client middleware",
        ("flask/", "werkzeug/", "remote.py"),
    ),
    ("R recorder: batching, loop turns", ("Recorder.", "in_turns", "let_streams_run")),
    ("0 server: pywsgi and gunicorn, the rest", ("pywsgi", "gunicorn", "server/")),
]


def stages(path: Path) -> list[tuple[str, float]]:
    """The share of the worker's samples in each stage of a call (``STAGES``, and every
    stage's own step by name); the rest is gevent's hub, sockets and the collector."""
    counts, total = Counter(), 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        total += int(count)
        owner = "Z other: gevent hub and timers, socket waits, garbage collection"
        for frame in reversed(stack.split(";")):
            m = STEP.match(frame) if "ollama_gate/" in frame else None
            hit = (
                f"7 step: {m[1]}.{m[2]}"
                if m and m[1] not in ("Pipeline", "Stage")
                else next(
                    (n for n, pats in STAGES if any(p in frame for p in pats)), None
                )
            )
            if hit:
                owner = hit
                break
        counts[owner] += int(count)
    return sorted((n, c / total) for n, c in counts.items())


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
        "--stages",
        action="store_true",
        help="print µs per call by stage of the call (STAGES) instead of by part",
    )
    parser.add_argument(
        "--env", action="append", default=[], help="NAME=VALUE for the gateway"
    )
    parser.add_argument("--root", type=Path, help="profile another checkout's gateway")
    args = parser.parse_args()
    work = {w["name"]: w for w in plan(False) + paced_plan(False)}[args.workload]
    env = dict(e.split("=", 1) for e in args.env)
    tmp = Path(tempfile.mkdtemp(prefix="ollama-gate-profile-"))
    up = Upstream().start()
    gw = None
    try:
        backend = f"http://127.0.0.1:{up.port}"
        gw = Gateway("gateway", tmp, backend, env, root=args.root or ROOT).start()
        worker = children(gw.proc.pid)[0]
        tag = f"-{args.root.name}" if args.root else ""
        out = ROOT / "bench" / "raw" / f"profile-{args.workload}{tag}.txt"
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
        if args.stages:
            cpu = res.get("cpu_ms_per_call") or res.get("cpu_ms_per_stream") or 0
            print(f"stages of a call (µs per call at {cpu:.3f} ms):")
            for name, share in stages(out):
                print(f"  {100 * share:5.1f}%  {1000 * cpu * share:6.0f} µs  {name}")
    finally:
        if gw:
            gw.stop()
        up.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
