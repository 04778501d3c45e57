"""The scheduler across a cluster (issue 28): two gateway hosts x two gevent workers
on one Redis and one PostgreSQL, in front of one fake Ollama with slots.

``python bench/cluster.py [--repo PATH] [--quick] [--out FILE]`` (about five
minutes; ``--quick`` about one and a half) runs the gateway of checkout PATH (this
one by default) with this checkout's fake, client and arithmetic, and prints a
Markdown table (also written to FILE); ``--only 04`` runs some scenarios alone,
``--headroom N`` sets the gateway's ``OLLAMA_GATE_QUEUE_HEADROOM``. The
scenarios, each on keys of their own:

0. **no queue**: calls that find a slot free, one at a time, to the hosts in turn:
   first token, forwarding (from the client's send to the request on the backend)
   and the hosts' CPU per call;
1. **quiet beside a flood**: one tenant keeps 40 streams going over both hosts,
   another sends one call a second; the quiet one's time to first token against the
   same calls alone;
2. **shares**: two tenants kept busy (20 streams each over both hosts), equal
   weights, then weights 2:1: calls each began on the backend;
3. **bands**: a batch tenant floods while an interactive one sends a call a
   second; then both kept busy, so batch is served only by aging
   (``BATCH_MAX_WAIT``, 5 s here);
4. **slot freed to grant**: a tenant on host A calls and pauses, one on host B keeps
   more calls waiting than there are slots; measured on the backend, from one call's
   last byte to the next waiting call's request (``cluster_stats.gaps``), and the
   gateway's own hand-off histogram (``cluster_metrics``: Redis' clock, from the
   slot given back to the waiting call's grant).
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cluster_hosts import Cluster  # noqa: E402
from cluster_scenarios import (  # noqa: E402
    BATCH_MAX_WAIT,
    LONG,
    PARALLEL,
    SHORT,
    TOKEN,
    WEIGHTS,
    Bench,
)


def markdown(bench: Bench, root: Path, started: str, load: tuple, headroom) -> str:
    commit = subprocess.run(
        ["git", "-C", str(root), "log", "-1", "--format=%h %s"],
        capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    lines = [
        f"Gateway checkout `{root}` at `{commit}`; {started} UTC; "
        f"{os.cpu_count()} cores, load average {load[0]:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after. Backend: {PARALLEL} slots, "
        f"{TOKEN * 1000:g} ms a token; calls of {LONG} tokens (busy) or {SHORT} "
        "(quiet)."
        + ("" if headroom is None else f" `OLLAMA_GATE_QUEUE_HEADROOM={headroom}`."),
        "",
        "| figure | value | goal |",
        "|---|---|---|",
        *(f"| {f} | {v} | {g} |" for f, v, g in bench.rows),
        f"| failed calls (all scenarios) | {bench.failed} | 0 |",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--repo", type=Path, default=HERE.parent, help="the gateway's checkout"
    )
    ap.add_argument("--quick", action="store_true", help="short scenarios (a test)")
    ap.add_argument("--out", type=Path, help="also write the table here")
    ap.add_argument(
        "--only", default="01234", help="the scenarios to run, e.g. 04 (default all)"
    )
    ap.add_argument(
        "--headroom",
        type=int,
        help="OLLAMA_GATE_QUEUE_HEADROOM for the gateway (unset: its default)",
    )
    args = ap.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    load = os.getloadavg()
    env = {"OLLAMA_GATE_BATCH_MAX_WAIT": str(BATCH_MAX_WAIT)}
    if args.headroom is not None:
        env["OLLAMA_GATE_QUEUE_HEADROOM"] = str(args.headroom)
    tmp = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    cluster = Cluster(args.repo.resolve(), tmp, PARALLEL, TOKEN, env)
    try:
        bench = Bench(cluster.start(WEIGHTS), args.quick)
        if "0" in args.only:
            bench.solo()
        alone = bench.quiet() if "1" in args.only else math.nan
        if "2" in args.only:
            bench.shares("even1", "even2", "within 2x")
            bench.shares("heavy", "light", "2.0 +-10%")
        if "3" in args.only:
            bench.bands(alone)
        if "4" in args.only:
            bench.slot_to_grant()
    finally:
        cluster.stop()
    table = markdown(bench, args.repo.resolve(), started, load, args.headroom)
    print(table)
    if args.out:
        args.out.write_text(table)
    return 1 if bench.failed else 0


if __name__ == "__main__":
    sys.exit(main())
