"""A call for a backend marked down checks it again at once instead of waiting out the
health backoff: an Ollama restarted (or started after the gateway) serves the next
call; a flood of calls checks a down backend at most once per gap."""

from __future__ import annotations

import requests

from ollama_gate.routing.backends import BackendConfig, BackendState
from ollama_gate.routing.health import Checker
from tests.helpers.live import LiveGateway


def chat(gw: LiveGateway, key: str, model: str) -> requests.Response:
    return requests.post(
        gw.url + "/api/chat",
        json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def test_a_restarted_backend_serves_the_next_call_without_the_health_interval(
    tmp_path, pool
):
    gpu1, _, gpu3 = pool  # phi3:mini is on gpu3 only
    gw = LiveGateway(
        tmp_path,
        f"gpu1={gpu1.url},gpu3={gpu3.url}",
        # one health round at start, then none for an hour: only a call's own
        # recheck can bring gpu3 back
        env={"OLLAMA_GATE_HEALTH_INTERVAL": "3600"},
    ).start()
    try:
        key = gw.key()
        assert chat(gw, key, "phi3:mini").status_code == 200
        gpu3.stop()
        gone = chat(gw, key, "phi3:mini")  # cannot connect: gpu3 is marked down
        assert gone.status_code in (502, 503), gone.text
        gpu3.start()  # back, on the same port
        back = chat(gw, key, "phi3:mini")
        assert back.status_code == 200, back.text
        assert back.headers["X-Ollama-Gate-Backend"] == "gpu3"
        assert chat(gw, key, "llama3.2").status_code == 200  # gpu1 untouched
    finally:
        gw.stop()


class CountingProbe:
    """A backend's probe client that is always refused, counting the tries."""

    def __init__(self):
        self.sent = 0

    def send(self, *args):
        from ollama_gate.errors import ApiError

        self.sent += 1
        raise ApiError(502, "cannot connect")


def test_a_flood_of_calls_rechecks_a_down_backend_once_per_gap(app):
    probe = CountingProbe()
    state = BackendState(BackendConfig("gpu9", "http://127.0.0.1:9"), None, probe)
    state.healthy, state.failures, state.next_check = False, 3, 1e12
    checker = Checker(app, fleet=None)
    checker.revive_gap = 3600.0
    for _ in range(50):
        assert checker.revive([state]) is False
    assert probe.sent == 1
    # the failed recheck keeps the backoff's own schedule
    assert (state.failures, state.next_check) == (3, 1e12)
    disabled = BackendState(
        BackendConfig("gpu8", "http://127.0.0.1:8", enabled=False), None, probe
    )
    disabled.healthy = False
    assert checker.revive([disabled]) is False and probe.sent == 1
