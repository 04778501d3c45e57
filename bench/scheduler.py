"""The scheduler's figures on fake Ollama servers (issue 13), in one short run:

- the wait of a single call behind another key's burst, fair (another key) against
  FIFO (the burst's own key, served in arrival order), one slot on one backend;
- the second turn of a conversation with and without affinity, two equal backends
  whose fake prompt cache makes a turn on a server that has not seen the
  conversation wait ``COLD`` seconds (Ollama reads the whole prompt again there).

``python bench/scheduler.py`` prints a Markdown table (about a minute).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # the checkout: tests.fakes

from procs import Gateway  # noqa: E402

from tests.fakes.ollama import FakeOllama  # noqa: E402

BURST = 20
COLD = 0.3  # seconds a turn waits on a server without the conversation's prompt
CONVERSATIONS = 30


def generate(gw: Gateway, key: str, prompt: str) -> float:
    """Seconds one whole generate takes through ``gw``."""
    t0 = time.perf_counter()
    resp = requests.post(
        f"http://127.0.0.1:{gw.port}/api/generate",
        json={"model": "llama3.2", "prompt": prompt, "stream": False},
        headers={"Authorization": f"Bearer {key}"},
        timeout=120,
    )
    resp.raise_for_status()
    return time.perf_counter() - t0


def single_behind_burst(gw: Gateway, burst_key: str, single_key: str) -> float:
    """The single call's seconds, sent 50 ms after a burst of ``BURST`` calls."""
    with ThreadPoolExecutor(BURST + 1) as pool:
        burst = [pool.submit(generate, gw, burst_key, f"b{i}") for i in range(BURST)]
        time.sleep(0.05)
        single = pool.submit(generate, gw, single_key, "single").result()
        for f in burst:
            f.result()
    return single


def second_turns(gw: Gateway, key: str, tag: str) -> list[float]:
    """Seconds of each conversation's second turn."""
    out = []
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    url = f"http://127.0.0.1:{gw.port}/api/chat"
    for c in range(CONVERSATIONS):
        messages = [{"role": "user", "content": f"{tag} conversation {c}"}]
        first = session.post(
            url, json={"model": "llama3.2", "messages": messages, "stream": False}
        ).json()
        messages += [first["message"], {"role": "user", "content": "and then?"}]
        t0 = time.perf_counter()
        session.post(
            url, json={"model": "llama3.2", "messages": messages, "stream": False}
        ).raise_for_status()
        out.append(time.perf_counter() - t0)
    return out


def main() -> int:
    """Run both measurements and print the table."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-scheduler-"))
    fakes = [FakeOllama().start() for _ in range(2)]
    procs = []
    try:
        one = fakes[0]
        one.chunk_delay = 0.01  # 8 tokens: about 80 ms a call
        fair = Gateway("fair", tmp / "fair", f"gpu1={one.url}", {}).start()
        procs.append(fair)
        fair.flask("backends", "set", "gpu1", "--parallel", "1")
        time.sleep(12)  # the worker reads the new row within HEALTH_INTERVAL (10 s)
        a, b = fair.keys[0], fair.keys[1]
        rounds = [(single_behind_burst(fair, a, b), single_behind_burst(fair, a, a))]
        rounds += [(single_behind_burst(fair, a, b), single_behind_burst(fair, a, a))]
        fair_s = statistics.median(r[0] for r in rounds)
        fifo_s = statistics.median(r[1] for r in rounds)
        one.chunk_delay = 0.0

        for f in fakes:
            f.loaded = ["llama3.2:latest"]
            f.prompt_cache_delay = COLD
        both = ",".join(f"gpu{i + 1}={f.url}" for i, f in enumerate(fakes))
        sticky = Gateway("affinity", tmp / "aff", both, {}).start()
        loose = Gateway(
            "no-affinity", tmp / "noaff", both, {"OLLAMA_GATE_AFFINITY_SECONDS": "0"}
        ).start()
        procs += [sticky, loose]
        with_aff = second_turns(sticky, sticky.keys[0], "with")
        without = second_turns(loose, loose.keys[0], "without")
    finally:
        for p in procs:
            p.stop()
        for f in fakes:
            f.stop()
    ms = lambda s: f"{s * 1000:.0f} ms"  # noqa: E731
    print("| figure | value |")
    print("|---|---|")
    print(f"| one call behind another key's burst of {BURST} (fair) | {ms(fair_s)} |")
    print(f"| the same call in the burst's own key (FIFO order) | {ms(fifo_s)} |")
    print(
        f"| second turn, affinity on: median / p90 | {ms(statistics.median(with_aff))}"
        f" / {ms(sorted(with_aff)[int(0.9 * len(with_aff))])} |"
    )
    print(
        f"| second turn, affinity off: median / p90 | {ms(statistics.median(without))}"
        f" / {ms(sorted(without)[int(0.9 * len(without))])} |"
    )
    cold = sum(t > COLD for t in without)
    print(
        f"| second turns that met a cold prompt cache, affinity off | {cold} of "
        f"{len(without)} |"
    )
    print(
        f"| the same, affinity on | {sum(t > COLD for t in with_aff)} of "
        f"{len(with_aff)} |"
    )
    return 0


if __name__ == "__main__":
    threading.excepthook = lambda args: None
    sys.exit(main())
