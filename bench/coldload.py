"""A cold model load and a client that gives up (issue 28), direct and through the
gateway.

A fake Ollama (``tests/fakes/loads.py``) takes ``LOAD`` seconds to load a model and,
as Ollama does, aborts the load when the client hangs up before it ends. The client
gives up after ``GIVE_UP`` seconds and tries again, at most ``ATTEMPTS`` times.
Direct to the fake, every retry starts the load again and none is served; through
the gateway, the first attempt's load is kept for it and a retry is served warm.

``python bench/coldload.py [LOAD GIVE_UP]`` prints a Markdown table (about a minute
with the defaults, 20 s and 5 s).
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # the checkout: tests.fakes

from procs import Gateway  # noqa: E402

from tests.fakes.ollama import FakeOllama  # noqa: E402

LOAD = 20.0  # seconds the fake takes to load the model
GIVE_UP = 5.0  # seconds the client waits for an answer before it tries again
ATTEMPTS = 8
MODEL = "big-model"


def until_served(url: str, headers: dict, give_up: float) -> tuple[float | None, int]:
    """(seconds until an attempt was served or None, attempts made)."""
    t0 = time.perf_counter()
    for attempt in range(1, ATTEMPTS + 1):
        try:
            resp = requests.post(
                url + "/api/generate",
                json={"model": MODEL, "prompt": "Hi", "stream": False},
                headers=headers,
                timeout=give_up,
            )
        except requests.Timeout:
            continue  # the client gives up and asks again at once
        resp.raise_for_status()
        return time.perf_counter() - t0, attempt
    return None, ATTEMPTS


def run(label: str, fake: FakeOllama, url: str, headers: dict, give_up: float) -> str:
    """One scenario's table row; ``fake`` starts it cold."""
    fake.loaded[:] = []
    before = (fake.loads_started, fake.loads_completed, fake.loads_aborted)
    served, attempts = until_served(url, headers, give_up)
    time.sleep(0.5)  # a cut or kept load settles
    started, completed, aborted = (
        fake.loads_started - before[0],
        fake.loads_completed - before[1],
        fake.loads_aborted - before[2],
    )
    when = f"{served:.1f} s" if served is not None else f"never ({attempts} tries)"
    return f"| {label} | {when} | {attempts} | {started} | {completed} | {aborted} |"


def main() -> int:
    """Both scenarios on one fake; print the table."""
    load = float(sys.argv[1]) if len(sys.argv) > 1 else LOAD
    give_up = float(sys.argv[2]) if len(sys.argv) > 2 else GIVE_UP
    tmp = Path(tempfile.mkdtemp(prefix="bench-coldload-"))
    fake = FakeOllama().start()
    fake.add_model(f"{MODEL}:latest")
    fake.load_delay = load
    gw = None
    try:
        rows = [run("direct to the fake", fake, fake.url, {}, give_up)]
        gw = Gateway("coldload", tmp / "gw", f"gpu1={fake.url}", {}).start()
        time.sleep(1)  # its first health check has read /api/ps
        fake.loaded[:] = []
        auth = {"Authorization": f"Bearer {gw.keys[0]}"}
        rows.append(
            run(
                "through the gateway",
                fake,
                f"http://127.0.0.1:{gw.port}",
                auth,
                give_up,
            )
        )
    finally:
        if gw is not None:
            gw.stop()
        fake.stop()
    print(f"Load {load:g} s; the client gives up after {give_up:g} s and retries.\n")
    print("| client | served after | attempts | loads started | completed | aborted |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    threading.excepthook = lambda args: None
    sys.exit(main())
