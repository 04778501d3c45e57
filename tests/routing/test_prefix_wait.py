"""Waiting for a prompt's home: when the backend holding the start of a call's prompt
has every slot full, the call waits for it up to what the next best backend would
take to read the prompt cold (learned from Ollama's answers), within
``PREFIX_WAIT``; meanwhile other calls go on (the waiting call is not in the queue)."""

from __future__ import annotations

import threading
import time
import uuid
from types import SimpleNamespace

import pytest
import requests

from ollama_gate.routing.prefill import PrefillRates, hold_seconds
from ollama_gate.routing.router import Routing
from ollama_gate.scheduler.holds import Holds
from tests.helpers.live import LiveGateway
from tests.helpers.live import ask_with_system as ask
from tests.helpers.services import REDIS_URL

TEAM = "You are the support team's assistant. " * 700  # ~26,600 characters
OTHER = "You answer the legal team's questions. " * 700


def test_the_rate_is_learned_from_long_reads_and_bounds_the_wait():
    rates = PrefillRates()
    home, other = SimpleNamespace(name="gpu1"), SimpleNamespace(name="gpu2")
    assert hold_seconds(rates, home, other, 10, 256, 5.0) == 0  # nothing learned
    rates.learn("gpu1", 8, 80_000_000)  # a short read: mostly fixed cost, ignored
    rates.learn("gpu1", 1000, None)  # an answer without a duration (/v1)
    assert rates.ms_per_token("gpu1") is None
    rates.learn("gpu1", 1000, 500_000_000)  # 0.5 ms per token
    assert rates.ms_per_token("gpu1") == pytest.approx(0.5)
    # gpu2 not seen reading yet: the home's rate; 10 blocks of 256 characters are
    # 640 tokens: 0.32 s
    assert hold_seconds(rates, home, other, 10, 256, 5.0) == pytest.approx(0.32)
    rates.learn("gpu2", 2000, 4_000_000_000)  # gpu2 reads at 2 ms per token
    assert hold_seconds(rates, home, other, 10, 256, 5.0) == pytest.approx(1.28)
    assert hold_seconds(rates, home, other, 10, 256, 1.0) == 1.0  # the bound
    assert hold_seconds(rates, home, other, 10, 256, 0.0) == 0  # off
    assert hold_seconds(rates, home, other, 0, 256, 5.0) == 0  # nothing to save


def test_a_spill_into_another_prompts_home_counts_its_eviction():
    """The next best backend holds the team's prompt (a call spilled there once) but
    serves another team's mostly: going there would evict that team's prompt, so the
    call may wait as long as reading its whole prefix cold; where the prompt is at
    home too, only what that backend lacks counts (here nothing: no wait)."""
    rates = PrefillRates()
    rates.learn("gpu2", 1000, 50_000_000)  # 0.05 ms per token
    router = SimpleNamespace(rates=rates, block=256, wait_most=2.0)

    def backend(name, parallel=2):
        return SimpleNamespace(
            name=name, healthy=True, config=SimpleNamespace(parallel=parallel)
        )

    home, other = backend("gpu1"), backend("gpu2")
    call = SimpleNamespace(home_hold=None)
    Routing.hold(
        router, call, home, other, {"gpu1": (93, 0.9, 1), "gpu2": (93, 0.1, 2)}
    )
    assert call.home_hold[0] is home
    assert call.home_hold[1] == pytest.approx(93 * 256 / 4 * 0.05 / 1000)
    call = SimpleNamespace(home_hold=None)
    Routing.hold(
        router, call, home, other, {"gpu1": (93, 0.9, 1), "gpu2": (93, 0.6, 2)}
    )
    assert call.home_hold is None
    # a home without a cap was only busier than the rest: nothing to wait for
    Routing.hold(router, call, backend("gpu1", None), other, {"gpu1": (93, 0.9, 1)})
    assert call.home_hold is None


def test_holders_of_a_slot_take_turns_in_arrival_order():
    holds = Holds()
    free = threading.Event()
    got: list[str] = []

    def holder(name: str, stop=lambda: False):
        def attempt():
            if free.is_set():
                free.clear()  # one slot: the next must wait for another
                got.append(name)
                return True
            return False

        return threading.Thread(
            target=holds.hold, args=("gpu1|m", 30, attempt, stop), daemon=True
        )

    first, second = holder("first"), holder("second")
    first.start()
    while not holds.lines.get("gpu1|m"):
        time.sleep(0.01)
    second.start()
    while len(holds.lines.get("gpu1|m", [])) < 2:
        time.sleep(0.01)
    for _ in range(2):  # a slot frees: its first holder takes it
        free.set()
        holds.wake("gpu1|m")
        while free.is_set():
            time.sleep(0.01)
    first.join(5)
    second.join(5)
    assert got == ["first", "second"]
    assert holds.lines == {} and holds.kept == 2
    # a holder gives up when told to (calls of its model wait in the queue)
    assert holds.hold("gpu1|m", 30, lambda: False, lambda: True) is False
    assert holds.lost == 1


def two_backends(tmp_path, fake_pool, wait: str, redis=False) -> LiveGateway:
    gpu1, gpu2 = fake_pool[:2]
    env = {
        "OLLAMA_GATE_ROUTING": "prefix",
        "OLLAMA_GATE_PREFIX_WAIT": wait,
        "OLLAMA_GATE_HEALTH_INTERVAL": "0.3",
    }
    if redis:  # the cluster's queue, slots and prefixes
        env["OLLAMA_GATE_REDIS_URL"] = REDIS_URL
        env["OLLAMA_GATE_REDIS_PREFIX"] = f"test-wait-{uuid.uuid4().hex[:8]}"
    gw = LiveGateway(tmp_path, f"gpu1={gpu1.url},gpu2={gpu2.url}", env=env).start()
    for name in ("gpu1", "gpu2"):
        gw.cli("backends", "set", name, "--parallel", "1")
    time.sleep(1)  # the worker reads the rows at its next health round
    return gw


def busy_home(gw, key, fake_pool):
    """The team's home (after two calls: its prompt and the fakes' reading rate
    learned), and a stream that holds its one slot until its fake's ``release``."""
    home = ask(gw, key, TEAM, "first").headers["X-Ollama-Gate-Backend"]
    assert ask(gw, key, TEAM, "second").headers["X-Ollama-Gate-Backend"] == home
    # the answers are read in the background (batches of up to 0.5 s, after the
    # history is written): then the rates are learned
    time.sleep(3)
    fake = fake_pool[int(home[-1]) - 1]
    fake.hold_second_chunk = True
    stream = requests.post(
        gw.url + "/api/chat",
        json={
            "model": "llama3.2",
            "messages": [
                {"role": "system", "content": TEAM},
                {"role": "user", "content": "a long answer"},
            ],
        },
        headers={"Authorization": f"Bearer {key}"},
        stream=True,
        timeout=60,
    )
    assert stream.headers["X-Ollama-Gate-Backend"] == home
    assert fake.first_chunk_sent.wait(10)
    return home, fake, stream


@pytest.mark.parametrize(
    "redis", [False, pytest.param(True, marks=pytest.mark.needs_redis)]
)
def test_a_call_waits_for_its_busy_home_and_others_go_on(tmp_path, fake_pool, redis):
    gw = two_backends(tmp_path, fake_pool, "30", redis)
    try:
        key = gw.key("team")
        home, fake, stream = busy_home(gw, key, fake_pool)
        got: list = []
        waiting = threading.Thread(
            target=ask, args=(gw, key, TEAM, "third", "llama3.2", got), daemon=True
        )
        waiting.start()
        time.sleep(0.5)
        # the waiting call blocks nobody: another team's prompt, and a call of
        # another model, start on the other backend and finish
        other = ask(gw, gw.key("legal"), OTHER, "a legal question")
        assert other.headers["X-Ollama-Gate-Backend"] != home
        assert ask(gw, key, "short", "hi", model="qwen2.5:7b").status_code == 200
        assert waiting.is_alive() and not got
        fake.release.set()  # the home's slot frees: the waiting call takes it
        stream.close()
        waiting.join(30)
        assert got and got[0].headers["X-Ollama-Gate-Backend"] == home
        assert int(got[0].headers["X-Ollama-Gate-Queue-Ms"]) > 0
    finally:
        fake_pool[0].release.set()
        fake_pool[1].release.set()
        gw.stop()


def test_a_home_busy_past_the_bound_is_left_for_the_next_best(tmp_path, fake_pool):
    gw = two_backends(tmp_path, fake_pool, "1")
    try:
        key = gw.key("team")
        home, fake, stream = busy_home(gw, key, fake_pool)
        resp = ask(gw, key, TEAM, "third")
        assert resp.headers["X-Ollama-Gate-Backend"] != home
        assert int(resp.headers["X-Ollama-Gate-Queue-Ms"]) >= 1000  # it waited
        stream.close()
    finally:
        fake_pool[0].release.set()
        fake_pool[1].release.set()
        gw.stop()
