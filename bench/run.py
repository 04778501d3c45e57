"""Benchmark the gateway against a direct connection, interleaved; write results.

``python bench/run.py`` starts the fast fake upstream and real gunicorn gateways on the
default configuration (keys, rate limits and history on; a second gateway with history
off), runs every workload of issue 6 against direct and gateway in turn, repeats the
round, and writes medians and ratios to ``bench/RESULTS.md`` and ``bench/results.json``
(raw per-run figures in ``bench/raw/``). ``--quick`` runs a small version in seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from client import Spec  # noqa: E402
from fixed_report import markdown as fixed_markdown  # noqa: E402
from fixed_report import summarise_fixed  # noqa: E402
from nginx import Nginx, nginx_binary  # noqa: E402
from paced import plan as paced_plan  # noqa: E402
from paced_report import HEADING, summarise_paced  # noqa: E402
from paced_report import markdown as paced_markdown  # noqa: E402
from procs import FLOORS, ROOT, Floor, Gateway, Upstream  # noqa: E402
from report import _by, markdown, summarise  # noqa: E402
from workloads import (  # noqa: E402
    cache_hit,
    concurrent,
    first_token,
    generate,
    throughput,
)

BENCH = ROOT / "bench"
HISTORY_OFF = {"OLLAMA_GATE_HISTORY_MODE": "off"}


def plan(quick: bool) -> list[dict]:
    """The burst workloads (issue 6): name, what to run, against which targets."""
    secs, warm = (0.6, 0.2) if quick else (3.0, 0.5)
    conc_n, conc_tokens, conc_delay = (100, 2, 0.2) if quick else (2000, 5, 1.0)
    return [
        {
            "name": "stream64",
            "title": "streamed generate, 64 tokens, 16 clients",
            "run": throughput,
            "spec": Spec("/api/generate", generate(64), 64, "ndjson"),
            "args": (16, secs, warm),
            "targets": ("direct", "gateway", "gateway_nohist"),
        },
        {
            "name": "ttft",
            "title": "streamed, 10 ms/token, 1 client: time to first token",
            "run": first_token,
            "spec": Spec("/api/generate", generate(8, 0.01), 8, "ndjson"),
            "args": (5 if quick else 40,),
            "targets": ("direct", "gateway"),
            "keys": 1,
        },  # one client, one key (far under its rate limit)
        {
            "name": "whole",
            "title": "whole (non-streamed) generate, 64 tokens, 16 clients",
            "run": throughput,
            "spec": Spec("/api/generate", generate(64, stream=False), 64, "whole"),
            "args": (16, secs, warm),
            "targets": ("direct", "gateway"),
        },
        {
            "name": "sse64",
            "title": "streamed /v1/chat/completions (SSE), 64 tokens, 16 clients",
            "run": throughput,
            "spec": Spec(
                "/v1/chat/completions",
                {
                    "model": "llama3.2",
                    "stream": True,
                    "max_tokens": 64,
                    "messages": [{"role": "user", "content": "Why is the sky blue?"}],
                },
                64,
                "sse",
            ),
            "args": (16, secs, warm),
            "targets": ("direct", "gateway"),
        },
        {
            "name": "cachehit",
            "title": "cache hit: streamed generate, temperature 0, 64 tokens, 1 client",
            "run": cache_hit,
            "spec": Spec(
                "/api/generate",
                {**generate(64), "options": {"num_predict": 64, "temperature": 0}},
                64,
                "ndjson",
            ),
            "args": (20 if quick else 200,),
            "targets": ("direct", "gateway"),
        },  # the keys are one user's: they share the cached answer (the user scope)
        {
            "name": "conc",
            "title": f"{conc_n} concurrent streams, {conc_tokens} tokens at "
            f"{conc_delay:g} s/token",
            "run": concurrent,
            "spec": Spec(
                "/api/generate",
                generate(conc_tokens, conc_delay),
                conc_tokens,
                "ndjson",
            ),
            "args": (conc_n,),
            "targets": ("direct", "gateway"),
        },
    ]


async def run_all(
    targets: dict, work: list[dict], repeats: int, only: set[str] | None, log
) -> list[dict]:
    """Every workload against its targets, interleaved, ``repeats`` times."""
    runs = []
    for r in range(repeats):
        for w in work:
            if only and w["name"] not in only:
                continue
            names = list(w["targets"])
            names = (
                names[r % len(names) :] + names[: r % len(names)]
            )  # rotate who goes first
            for name in names:
                if name not in targets:
                    continue
                t = targets[name]
                spec = w["spec"]
                await asyncio.sleep(0.3)  # the last workload's sockets are closed
                # the same request bytes both ways: the upstream ignores the keys
                spec = Spec(
                    spec.path,
                    spec.body,
                    spec.tokens,
                    spec.mode,
                    tuple(
                        (getattr(t, "keys", None) or targets["gateway"].keys)[
                            : w.get("keys")
                        ]
                    ),
                )
                out = await w["run"](t, spec, *w["args"])
                out.update(repeat=r, workload=w["name"], target=name)
                runs.append(out)
                log(
                    f"[{r}] {w['name']:9s} {name:15s} "
                    + ", ".join(
                        f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in out.items()
                        if k not in ("repeat", "workload", "target", "error_sample")
                    )
                )
                if out["errors"]:
                    log(f"    errors: {out['error_sample']}")
                await asyncio.sleep(0.2)
    return runs


def run_set(work: list[dict], args, repeats: int, log) -> list[dict]:
    """Start the upstream, the gateways (and nginx for paced workloads), run ``work``
    interleaved for ``repeats`` rounds, stop them all."""
    paced_on = any(w.get("paced") for w in work)
    no_second = args.no_history_off or (
        paced_on and not (args.second_env or args.fleet or args.second_root)
    )  # the paced set compares direct, nginx and the gateway
    tmp = Path(tempfile.mkdtemp(prefix="ollama-gate-bench-"))
    procs: list = []
    try:
        up = Upstream().start()
        procs.append(up)
        backend = f"http://127.0.0.1:{up.port}"
        targets = {"direct": up}
        extra = dict(e.split("=", 1) for e in args.gateway_env)
        gw = Gateway("gateway", tmp / "gw", backend, extra).start()
        procs.append(gw)
        targets["gateway"] = gw
        second_env = args.second_env
        if args.fleet:  # the cost of choosing among N backends, same capacity behind
            fleet = ",".join(f"gpu{i}={backend}" for i in range(1, args.fleet + 1))
            second_env = [f"OLLAMA_GATE_BACKENDS={fleet}"]
        if args.second_root:  # another checkout's code, on the same settings
            second_env = second_env or ["BENCH_CHECKOUT=second"]
        if not no_second:
            second = dict(e.split("=", 1) for e in second_env or []) or HISTORY_OFF
            off = Gateway(
                "gateway_nohist",
                tmp / "off",
                backend,
                {**extra, **second},
                root=args.second_root or ROOT,
            ).start()
            procs.append(off)
            targets["gateway_nohist"] = off
        if paced_on and not args.no_nginx and nginx_binary():
            ng = Nginx(tmp / "nginx", up.port).start()
            procs.append(ng)
            targets["nginx"] = ng
        if args.floor:  # the card's stack alone (bench/floor.py)
            for name in FLOORS:
                fl = Floor(name, tmp / name, up.port).start()
                procs.append(fl)
                targets[name] = fl
            for w in work:  # the paced set, and the burst set's CPU per call
                if w.get("paced") or w["name"] in ("stream64", "whole"):
                    w["targets"] = (*w["targets"], *FLOORS)
        log(
            f"upstream :{up.port}, then "
            + ", ".join(f"{t.name} :{t.port}" for t in procs[1:])
        )
        if second_env and not no_second:
            for w in work:
                if "gateway_nohist" not in w["targets"]:
                    w["targets"] = (*w["targets"], "gateway_nohist")
        return asyncio.run(run_all(targets, work, repeats, None, log))
    finally:
        for p in reversed(procs):
            p.stop()
        shutil.rmtree(tmp, ignore_errors=True)  # databases of the gateways under test


def main(argv: list[str] | None = None) -> int:
    """Command line entry; the exit status is 1 when an answer failed its check."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run, in seconds")
    parser.add_argument("--repeats", type=int, help="rounds (default 5, quick 1)")
    parser.add_argument(
        "--only", help="comma list of workloads (stream64,ttft,whole,...)"
    )
    parser.add_argument(
        "--paced",
        action="store_true",
        help="only the paced streams (issue 18): 200, 500 and 1,000 streams",
    )
    parser.add_argument(
        "--burst", action="store_true", help="only the burst workloads (issue 6)"
    )
    parser.add_argument(
        "--no-nginx",
        action="store_true",
        help="no nginx beside the paced streams, even where it is installed",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="beside the gateway, the bare relays of bench/floor.py: the least "
        "gunicorn + gevent (and Flask + requests) cost with no gateway",
    )
    parser.add_argument(
        "--no-history-off",
        action="store_true",
        help="skip the second gateway with history off",
    )
    parser.add_argument(
        "--gateway-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the gateways (experiments)",
    )
    parser.add_argument(
        "--second-env",
        action="append",
        metavar="NAME=VALUE",
        help="A/B experiments: the second gateway gets this environment "
        "instead of history off, and runs every workload",
    )
    parser.add_argument(
        "--second-root",
        type=Path,
        metavar="DIR",
        help="A/B of two commits in one run: the second gateway runs the checkout "
        "in DIR (e.g. a worktree of the base commit) on the same settings, and runs "
        "every workload; bench/ab.py prints the pairs",
    )
    parser.add_argument(
        "--fleet",
        type=int,
        metavar="N",
        help="the second gateway routes over N backends (N names of the same "
        "upstream) instead of history off, and runs every workload",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="where to write RESULTS.md and JSON "
        "(default bench/, or a temporary folder with --quick)",
    )
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 3 if args.paced else 5)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    out_dir = args.out or (
        Path(tempfile.mkdtemp(prefix="bench-")) if args.quick else BENCH
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    only = set(args.only.split(",")) if args.only else None
    work = [] if args.paced else plan(args.quick)
    work += [] if args.burst else paced_plan(args.quick)
    if only:
        work = [w for w in work if w["name"] in only]

    def log(msg: str) -> None:
        print(msg, flush=True)

    # The burst set and the paced set each get processes of their own: after the
    # 2,000-stream burst the worker's allocator keeps its arenas (about 45 MB above
    # idle, and none handed back), so a paced run on the same worker measured the
    # burst's memory as much as its own streams'.
    sets = [
        [w for w in work if not w.get("paced")],
        [w for w in work if w.get("paced")],
    ]
    started = time.time()
    runs = []
    for part in (p for p in sets if p):
        runs += run_set(part, args, repeats, log)
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "seconds": round(time.time() - started, 1),
        "quick": args.quick,
        "repeats": repeats,
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "loadavg": os.getloadavg(),
    }
    summary = summarise(runs)
    paced_names = {w["name"] for w in work if w.get("paced")}
    burst_runs = [r for r in runs if r["workload"] not in paced_names]
    paced_runs = [r for r in runs if r["workload"] in paced_names]
    raw_dir = BENCH / "raw"
    raw_dir.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(started))
    (raw_dir / f"{stamp}{'-quick' if args.quick else ''}.json").write_text(
        json.dumps({"meta": meta, "runs": runs}, indent=1)
    )
    path = out_dir / "RESULTS.md"
    old = path.read_text() if path.exists() else ""
    old_burst, _, old_paced = old.partition(HEADING)
    text_burst = old_burst.rstrip() + "\n" if old_burst.strip() else ""
    text_paced = HEADING + old_paced
    if burst_runs:
        (out_dir / "results.json").write_text(
            json.dumps({"meta": meta, "summary": summary, "runs": burst_runs}, indent=1)
        )
        text_burst = markdown(meta, summary, plan(args.quick))
    if paced_runs:
        paced = summarise_paced(paced_runs, summary["medians"])
        (out_dir / "paced.json").write_text(
            json.dumps({"meta": meta, "summary": paced, "runs": paced_runs}, indent=1)
        )
        text_paced = paced_markdown(meta, paced, paced_plan(args.quick))
    if burst_runs and paced_runs:  # issue 31's figures need both sets of one run
        fixed = summarise_fixed(_by(runs))
        text_paced = text_paced.rstrip() + "\n\n" + fixed_markdown(meta, fixed)
    path.write_text(text_burst + ("\n" + text_paced if text_paced != HEADING else ""))
    log(f"wrote {path}")
    return 1 if any(r["errors"] for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
