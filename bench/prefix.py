"""Prefix-aware routing against least-busy and conversation affinity (issue 28).

Three fake Ollama servers with a fake GPU each (``tests/fakes/gpu.py``): ``SLOTS``
slots, each keeping its last prompt, prefilling what differs from it at
``PREFILL_MS`` per token (a token is 4 characters), then ``TOKENS`` tokens at
``TOKEN_S``. Thirty users in three teams; each team shares its own system prompt of
``SYSTEM_TOKENS`` tokens, each user holds a conversation of ``TURNS`` turns (its own
questions, the answers kept), thinking ``THINK`` seconds between them, all at once.
The gateway (gunicorn, one gevent worker, ``--parallel SLOTS`` per backend) runs
once per routing. Time to first token is measured at the client (a stream's first
line); prefilled tokens are the fakes' own count.

Besides the three routings, ``prefix-nowait`` is prefix routing that never waits for
a full home (``PREFIX_WAIT=0``, as before it could). The last column counts the calls
that waited for their home, from the gateway's ``/metrics``.

``python bench/prefix.py`` prints a Markdown table (about five minutes).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
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

from tests.fakes.gpu import FakeGPU  # noqa: E402
from tests.fakes.ollama import FakeOllama  # noqa: E402

USERS, TEAMS, TURNS = 30, 3, 8
SYSTEM_TOKENS = 6000
SLOTS = 2
PREFILL_MS = 0.05
TOKENS, TOKEN_S = 8, 0.01
THINK = (2.0, 8.0)  # seconds a person reads an answer and types the next question
# prefix-nowait: prefix routing that never waits for a full home (PREFIX_WAIT=0)
MODES = ("least-busy", "affinity", "prefix-nowait", "prefix")


def system_prompt(team: int) -> str:
    """Team ``team``'s system prompt, ``SYSTEM_TOKENS`` tokens of 4 characters."""
    words = f"Team {team} handbook rule {{}}: answer politely and cite rule {{}}. "
    text = "".join(words.format(i, i) for i in range(SYSTEM_TOKENS))
    return text[: SYSTEM_TOKENS * 4]


def user(url, key, team: int, n: int, seed: int, ttfts: list, think) -> None:
    """One user's conversation: ``TURNS`` questions, each answer kept."""
    rng = random.Random(seed)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    messages = [{"role": "system", "content": system_prompt(team)}]
    time.sleep(rng.uniform(0, think[1]))  # people do not all start at once
    for turn in range(TURNS):
        messages.append(
            {"role": "user", "content": f"user {n}, question {turn}: how do I ...?"}
        )
        t0 = time.perf_counter()
        with session.post(
            url + "/api/chat",
            json={"model": "llama3.2", "messages": messages, "stream": True},
            stream=True,
            timeout=300,
        ) as resp:
            resp.raise_for_status()
            lines = resp.iter_lines()
            next(lines)
            ttfts.append(time.perf_counter() - t0)
            text = "".join(json.loads(x)["message"]["content"] for x in lines if x)
        messages.append({"role": "assistant", "content": text})
        time.sleep(rng.uniform(*think))


def people(gw: Gateway, n: int) -> list[str]:
    """A key for each of ``n`` users (``u0``...) in the gateway's database."""
    code = (
        "from ollama_gate import create_app\n"
        "from ollama_gate.extensions import db\n"
        "from ollama_gate.keys import create_key\n"
        "from ollama_gate.models import User\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        f"    users = [User(name=f'u{{i}}') for i in range({n})]\n"
        "    db.session.add_all(users)\n"
        "    keys = [create_key(u, name='k')[1] for u in users]\n"
        "    db.session.commit()\n"
        "print('\\n'.join(keys))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=HERE.parent,
        env=gw.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return out.stdout.split()


def held(url: str) -> str:
    """The calls that waited for their prompt's home: got it / went elsewhere
    (the gateway's ``ollama_gate_prefix_waits_total``)."""
    text = requests.get(url + "/metrics", timeout=30).text
    got = dict.fromkeys(("home", "elsewhere"), 0)
    for line in text.splitlines():
        if line.startswith("ollama_gate_prefix_waits_total{"):
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            got[outcome] = int(float(line.rsplit(" ", 1)[1]))
    return f"{got['home']}/{got['elsewhere']}"


def run(mode: str, tmp: Path, users: int, think=THINK) -> dict:
    """One routing's figures: TTFT mean and p90 (ms), tokens prefilled."""
    fakes = [FakeOllama().start() for _ in range(3)]
    gw = None
    try:
        for f in fakes:
            f.gpu = FakeGPU(parallel=SLOTS, prefill_ms=PREFILL_MS)
            f.chunk_delay = TOKEN_S
        backends = ",".join(f"gpu{i + 1}={f.url}" for i, f in enumerate(fakes))
        env = {
            "OLLAMA_GATE_ROUTING": mode.split("-nowait")[0],
            "OLLAMA_GATE_HEALTH_INTERVAL": "1",
        }
        if mode.endswith("-nowait"):
            env["OLLAMA_GATE_PREFIX_WAIT"] = "0"
        gw = Gateway(mode, tmp / mode, backends, env).start()
        for i in range(3):
            gw.flask("backends", "set", f"gpu{i + 1}", "--parallel", str(SLOTS))
        keys = people(gw, users)
        time.sleep(2.5)  # the worker reads the rows at its next health round
        url = f"http://127.0.0.1:{gw.port}"
        ttfts: list[float] = []
        threads = [
            threading.Thread(
                target=user,
                args=(url, keys[n], n % TEAMS, n, n, ttfts, think),
                daemon=True,
            )
            for n in range(users)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(600)
        ttfts.sort()
        waits = held(url)
        spread = []  # per backend, the calls of each team it ran
        for f in fakes:
            teams = [
                r.json["messages"][0]["content"][:6]
                for r in f.requests
                if r.path == "/api/chat" and r.json
            ]
            spread.append("/".join(str(teams.count(f"Team {t}")) for t in range(TEAMS)))
        return {
            "calls": len(ttfts),
            "mean": statistics.mean(ttfts) * 1000,
            "p90": ttfts[int(0.9 * len(ttfts))] * 1000,
            "p99": ttfts[int(0.99 * len(ttfts))] * 1000,
            "waits": waits,
            "prefilled": sum(f.gpu.prefilled for f in fakes),
            "cached": sum(f.gpu.cached for f in fakes),
            "spread": " ".join(spread),
        }
    finally:
        if gw is not None:
            gw.stop()
        for f in fakes:
            f.stop()


def main() -> int:
    """Run each routing and print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=USERS)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--think", default=f"{THINK[0]},{THINK[1]}", help="lo,hi s")
    args = parser.parse_args()
    think = tuple(float(x) for x in args.think.split(","))
    tmp = Path(tempfile.mkdtemp(prefix="bench-prefix-"))
    results = {m: run(m, tmp, args.users, think) for m in args.modes.split(",")}
    print(f"think {think[0]:g}-{think[1]:g} s, {SLOTS} slots per backend")
    print()
    print(
        "| routing | calls | TTFT mean | TTFT p90 | TTFT p99 | tokens prefilled | "
        "read from cache | calls per backend (team 0/1/2) | waited for home "
        "(got it/left) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for mode, r in results.items():
        print(
            f"| {mode} | {r['calls']} | {r['mean']:.0f} ms | {r['p90']:.0f} ms | "
            f"{r['p99']:.0f} ms | {r['prefilled']:,} | {r['cached']:,} | "
            f"{r['spread']} | {r['waits']} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
