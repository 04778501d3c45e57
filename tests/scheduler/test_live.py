"""The scheduler under real gunicorn: slots exact across two workers (Redis), a client
that hangs up while queued leaves at once, warm models loaded at start and again
after a backend returns, and an honest /api/ps."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import redis
import requests

from tests.helpers.live import LiveGateway
from tests.helpers.services import REDIS_URL

TEST_REDIS = REDIS_URL.rsplit("/", 1)[0] + "/11"


def wait_for(check, seconds: float = 10.0, step: float = 0.05):
    """Poll ``check`` until it is truthy; its last value."""
    deadline = time.monotonic() + seconds
    value = check()
    while not value and time.monotonic() < deadline:
        time.sleep(step)
        value = check()
    return value


def generate(gw, key, prompt="x", stream=False):
    return requests.post(
        gw.url + "/api/generate",
        json={"model": "llama3.2", "prompt": prompt, "stream": stream},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )


@pytest.mark.needs_redis
def test_slots_hold_exactly_across_two_workers(tmp_path, pool):
    gpu1 = pool[0]
    redis.Redis.from_url(TEST_REDIS).flushdb()
    gw = LiveGateway(
        tmp_path,
        f"gpu1={gpu1.url}",
        workers=2,
        env={"OLLAMA_GATE_REDIS_URL": TEST_REDIS, "OLLAMA_GATE_HEALTH_INTERVAL": "0.3"},
    )
    gw.cli("init")
    gw.cli("backends", "set", "gpu1", "--parallel", "2")
    gw.start()
    try:
        key = gw.key()
        gpu1.chunk_delay = 0.03
        gpu1.parallel = 100  # counts what runs at once; would run everything
        statuses = []

        def one(i):
            session = requests.Session()  # a connection each: both workers take calls
            statuses.append(
                session.post(
                    gw.url + "/api/generate",
                    json={"model": "llama3.2", "prompt": f"p{i}", "stream": True},
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=60,
                ).status_code
            )

        threads = [threading.Thread(target=one, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert statuses == [200] * 16
        assert gpu1.peak_running == {"llama3.2:latest": 2}
        r = redis.Redis.from_url(TEST_REDIS)
        assert sum(r.zcard(k) for k in r.scan_iter("*:model:inflight:*")) == 0
    finally:
        gw.stop()


@pytest.fixture()
def live_one_slot(tmp_path, pool):
    gpu1 = pool[0]
    gw = LiveGateway(
        tmp_path, f"gpu1={gpu1.url}", env={"OLLAMA_GATE_HEALTH_INTERVAL": "0.3"}
    )
    gw.cli("init")
    gw.cli("backends", "set", "gpu1", "--parallel", "1")
    gw.start()
    yield gw
    gw.stop()


def _queue_behind_a_held_call(gw, gpu1, key):
    """Hold the one slot with a stream, then queue a raw call behind it: the held
    stream's thread, the queued call's socket and a count of the model's waiters."""
    gpu1.hold_second_chunk = True
    held = threading.Thread(target=lambda: generate(gw, key, "held", stream=True))
    held.start()
    assert gpu1.first_chunk_sent.wait(10)
    session = requests.Session()

    def waiting() -> int:
        ps = session.get(
            gw.url + "/api/ps", headers={"Authorization": f"Bearer {key}"}, timeout=10
        ).json()["models"]
        return sum(m.get("waiting", 0) for m in ps if m["name"] == "llama3.2:latest")

    body = b'{"model":"llama3.2","prompt":"leaves","stream":false}'
    sock = socket.create_connection(("127.0.0.1", gw.port))
    sock.sendall(
        b"POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {key}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    assert wait_for(lambda: waiting() == 1)  # its request read, it waits
    return held, sock, waiting


def _release_and_check_the_one_that_left_never_ran(gw, gpu1, key, held):
    gpu1.release.set()
    held.join(10)
    assert generate(gw, key, "after").status_code == 200
    prompts = [r.json["prompt"] for r in gpu1.requests if r.path == "/api/generate"]
    assert prompts == ["held", "after"]  # the one that left never reached the backend


def test_a_client_that_hangs_up_leaves_the_queue(live_one_slot, pool):
    gw, gpu1 = live_one_slot, pool[0]
    key = gw.key()
    held, sock, waiting = _queue_behind_a_held_call(gw, gpu1, key)
    sock.close()  # and hangs up
    assert wait_for(lambda: waiting() == 0)  # out of the queue at once
    ps = requests.get(
        gw.url + "/api/ps", headers={"Authorization": f"Bearer {key}"}, timeout=10
    ).json()["models"]
    (entry,) = [m for m in ps if m["name"] == "llama3.2:latest"]
    assert entry["backend"] == "gpu1" and entry["running"] == 1
    _release_and_check_the_one_that_left_never_ran(gw, gpu1, key, held)

    def statuses() -> list:
        data = requests.get(
            gw.url + "/gate/api/history",
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        ).json()["data"]
        return sorted(i["status"] for i in data if i["endpoint"] == "/api/generate")

    assert wait_for(lambda: len(statuses()) == 3)  # history is written after a call
    assert statuses() == [200, 200, 499]  # the one that left is recorded as left
    assert "unhandled error" not in gw.log_path.read_text()


def test_a_client_that_hangs_up_with_a_byte_unread_leaves_the_queue(
    live_one_slot, pool
):
    """A byte past the request (a pipelined request's start) still in the socket
    does not make a client that closed look alive."""
    gw, gpu1 = live_one_slot, pool[0]
    key = gw.key()
    held, sock, waiting = _queue_behind_a_held_call(gw, gpu1, key)
    sock.sendall(b"G")  # the next request's first byte, which nothing reads yet
    sock.close()
    assert wait_for(lambda: waiting() == 0)  # out of the queue all the same
    _release_and_check_the_one_that_left_never_ran(gw, gpu1, key, held)


def test_warm_models_load_at_start_and_after_a_backend_returns(tmp_path, pool):
    gpu1, gpu2, _ = pool
    gpu1.loaded, gpu2.loaded = [], []
    gw = LiveGateway(
        tmp_path,
        f"gpu1={gpu1.url},gpu2={gpu2.url}",
        env={"OLLAMA_GATE_HEALTH_INTERVAL": "0.3"},
    )
    gw.cli("init")
    gw.cli("models", "set", "llama3.2", "--warm", "2", "--keep-alive", "2h")

    def loads(fake) -> list[dict]:
        return [
            r.json
            for r in fake.requests
            if r.path == "/api/generate" and r.json and "prompt" not in r.json
        ]

    gw.start()
    try:
        assert wait_for(lambda: loads(gpu1) and loads(gpu2))
        assert loads(gpu1)[0] == {"model": "llama3.2:latest", "keep_alive": "2h"}
        before = len(loads(gpu2))
        gpu2.stop()
        time.sleep(0.5)
        gpu2.start()  # it comes back with nothing loaded
        gpu2.loaded = []
        gpu2.requests.clear()
        assert wait_for(lambda: loads(gpu2), seconds=20)  # warmed again
        assert before >= 1
        listing = gw.cli("models", "list").stdout
        assert "warm=2" in listing and "gpu1" in listing
    finally:
        gw.stop()
