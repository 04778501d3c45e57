"""Fewer model swaps (issue 28): a mixed trace of three models on one backend that
holds one model at once, against arrival order.

One fake Ollama with a fake GPU (``tests/fakes/gpu.py``): room for one model, a swap
costs ``SWAP_COST`` seconds, one slot; each call is 8 tokens at 10 ms. The gateway
(gunicorn, one gevent worker) has the backend ``--parallel 1 --max-loaded 1``. The
same trace (``CALLS`` calls, models drawn at random, one every ``GAP`` seconds) runs
with ``SWAP_MAX_PASS`` 0 (arrival order), the default (30 s) and a tighter 3 s, and
once without ``--max-loaded`` (today: every call sent at once, Ollama's own order).

``python bench/swaps.py`` prints a Markdown table (about two minutes). With
``--hosts`` the trace goes through two gateway hosts (two gunicorn masters of two
workers each) sharing Redis and PostgreSQL, every other call to the other host
(``swaps_hosts``); ``--before PATH`` adds a row of that checkout's gateway so.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # the checkout: tests.fakes

from procs import ROOT, Gateway  # noqa: E402
from swaps_hosts import SwapHosts  # noqa: E402

from tests.fakes.gpu import FakeGPU  # noqa: E402
from tests.fakes.ollama import FakeOllama  # noqa: E402

CALLS, GAP, SWAP_COST = 40, 0.1, 0.5
MODELS = ("llama3.2", "qwen2.5:7b", "phi3:mini")
RUNS = (("arrival order", "0", True), ("max pass 3 s", "3", True))
RUNS += (("max pass 30 s (default)", "30", True), ("no --max-loaded", "30", False))


def trace(seed: int = 28) -> list[str]:
    """The models of the calls, in arrival order."""
    rng = random.Random(seed)
    return [rng.choice(MODELS) for _ in range(CALLS)]


def run(name, tmp, max_pass, capped, hosts=False, root=ROOT) -> dict:
    """One run of the trace: swaps, and each call's wait (seconds to its answer);
    through one gateway, or (``hosts``) two sharing Redis, of checkout ``root``."""
    fake = FakeOllama().start()
    gw = None
    try:
        fake.add_model("phi3:mini")
        fake.loaded = []
        fake.chunk_delay = 0.01
        fake.gpu = FakeGPU(room=1, swap_cost=SWAP_COST)
        env = {
            "OLLAMA_GATE_SWAP_MAX_PASS": max_pass,
            "OLLAMA_GATE_HEALTH_INTERVAL": "1",
        }
        where = tmp / "".join(c for c in name if c.isalnum())
        if hosts:
            gw = SwapHosts(root, where, fake.url, env)
            urls = gw.start_hosts(capped)
            key = gw.keys["bench"]
        else:
            gw = Gateway(name, where, f"gpu1={fake.url}", env, root).start()
            args = ["--parallel", "1"] + (["--max-loaded", "1"] if capped else [])
            gw.flask("backends", "set", "gpu1", *args)
            time.sleep(2.5)  # the worker reads the row at its next health round
            urls, key = [f"http://127.0.0.1:{gw.port}"], gw.keys[0]
        headers = {"Authorization": f"Bearer {key}"}
        waits: list[float] = []

        def call(model: str, url: str) -> None:
            t0 = time.perf_counter()
            resp = requests.post(
                url + "/api/generate",
                json={"model": model, "prompt": "x", "stream": False},
                headers=headers,
                timeout=600,
            )
            resp.raise_for_status()
            waits.append(time.perf_counter() - t0)

        threads = []
        t0 = time.perf_counter()
        for i, model in enumerate(trace()):
            args = (model, urls[i % len(urls)])  # every other call to the other host
            threads.append(threading.Thread(target=call, args=args))
            threads[-1].start()
            time.sleep(GAP)
        for t in threads:
            t.join(600)
        return {
            "swaps": fake.gpu.swaps,
            "mean": statistics.mean(waits),
            "max": max(waits),
            "span": time.perf_counter() - t0,
            "answered": len(waits),
        }
    finally:
        if gw is not None:
            gw.stop()
        fake.stop()


def main() -> int:
    """Run the trace each way and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", action="store_true", help="two hosts, one Redis")
    parser.add_argument("--before", type=Path, help="also this checkout's gateway")
    opts = parser.parse_args()
    runs = [(*r, ROOT) for r in RUNS]
    if opts.before:
        runs.append(("max pass 30 s, before", "30", True, opts.before.resolve()))
    tmp = Path(tempfile.mkdtemp(prefix="bench-swaps-"))
    models = trace()
    order = "".join("ABC"[MODELS.index(m)] for m in models)
    changes = sum(a != b for a, b in zip(order, order[1:], strict=False))
    print(f"trace ({CALLS} calls, one every {GAP * 1000:.0f} ms): {order}")
    print(f"({changes} model changes in arrival order; swap cost {SWAP_COST} s)")
    if opts.hosts:
        print("(two hosts sharing Redis, calls to either in turn)")
    print()
    print("| order | swaps | mean wait | longest wait | all done | answered |")
    print("|---|---|---|---|---|---|")
    for name, max_pass, capped, root in runs:
        r = run(name, tmp, max_pass, capped, opts.hosts, root)
        print(
            f"| {name} | {r['swaps']} | {r['mean']:.2f} s | {r['max']:.2f} s | "
            f"{r['span']:.1f} s | {r['answered']}/{CALLS} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
