"""The cluster bench's backend: the test suite's fake Ollama with slots, in a process
of its own (so the bench's client does not share its interpreter lock), that records
when each call began and ended on it.

``python bench/cluster_fake.py --port N --parallel 4 --delay 0.01``. Every prompt call
is recorded as ``[tag, arrived, began, ended]`` (wall clock seconds): ``arrived`` when
its request was read, ``began`` when it held one of the fake's ``parallel`` slots (the
two differ only if the gateway sent more calls than there are slots), ``ended`` when
the last byte of its answer was written. ``tag`` is the call's prompt, which the
bench sets to name the call. ``GET /bench/events`` answers the records so far and the
most calls that ran at once (``peak``), and clears both.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.fakes

from tests.fakes.ollama import FakeOllama  # noqa: E402
from tests.fakes.ollama.server import _Handler  # noqa: E402

EVENTS: list[list] = []
LOCK = threading.Lock()
_route = _Handler._route


def _recorded_route(self) -> None:
    """Answer ``/bench/events``; time every other call's answer."""
    if self.route_path == "/bench/events":
        with LOCK, self.fake._lock:
            peak = max(self.fake.peak_running.values(), default=0)
            body = json.dumps({"events": EVENTS, "peak": peak}).encode()
            EVENTS.clear()
            self.fake.peak_running.clear()
        self._send_bytes(200, body, "application/json")
        return
    parsed = getattr(self, "body", b"") and _json(self.body)
    tag = parsed.get("prompt") if isinstance(parsed, dict) else None
    if not isinstance(tag, str) or self.command != "POST":
        _route(self)
        return
    began = time.time()
    with self.fake._lock:  # this request's own record: when it was read
        mine = [r.time for r in self.fake.requests if r.body is self.body]
    arrived = mine[-1] if mine else began
    try:
        _route(self)
    finally:
        with LOCK:
            EVENTS.append([tag, arrived, began, time.time()])


def _json(body: bytes):
    try:
        return json.loads(body)
    except ValueError:
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--delay", type=float, default=0.01, help="seconds a token")
    args = ap.parse_args()
    _Handler._route = _recorded_route
    fake = FakeOllama(port=args.port)
    fake.parallel = args.parallel
    fake.chunk_delay = args.delay
    fake.start()
    trim = threading.Thread(target=_trim, args=(fake,), daemon=True)
    trim.start()
    print(f"fake ollama on {fake.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()


def _trim(fake: FakeOllama) -> None:
    """Keep the fake's own request list short (it records every body)."""
    while True:
        time.sleep(5)
        with fake._lock:
            del fake.requests[:-500]


if __name__ == "__main__":
    main()
