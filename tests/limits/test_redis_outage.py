"""Redis gone for a few seconds in the middle of calls: every slot comes back and
every token is charged once it answers; a slot is a lease its worker renews, so a
dead worker's slots end within one lease (issue 25, finding 10)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
import requests

from ollama_gate.extensions import db
from ollama_gate.limits.usage import Usage
from tests.helpers.live import LiveGateway
from tests.helpers.services import free_port
from tests.system.test_shared_faults import Cable

pytestmark = pytest.mark.needs_redis

GENERATE = {"model": "llama3.2", "prompt": "Hi"}


@pytest.fixture()
def own_redis(tmp_path):
    """A Redis of this test's own (the machine's is shared), stopped afterwards."""
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        + ["--appendonly", "no", "--daemonize", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield port, client
    proc.terminate()
    proc.wait(10)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def until(check, seconds: float = 30.0):
    """Poll ``check`` until it returns something true, or give up; its last value."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def slots_held(client: redis.Redis) -> dict[str, int]:
    """Every in-flight set (key concurrency, backend and model counts) not empty."""
    held = {k.decode(): client.zcard(k) for k in client.keys("*inflight*")}
    return {k: n for k, n in held.items() if n}


def held_stream(gw: LiveGateway, key: str, started: threading.Semaphore) -> int:
    """A streamed generate held after its first chunk; its status once read."""
    with requests.post(
        gw.url + "/api/generate", json=GENERATE, headers=auth(key), stream=True
    ) as resp:
        pieces = resp.iter_content(None)
        if resp.status_code == 200:
            next(pieces)
        started.release()
        try:
            b"".join(pieces)
        except requests.RequestException:  # the gateway's worker died mid-call
            return -1
        return resp.status_code


def charged(gw: LiveGateway, client: redis.Redis, prefix: str) -> tuple:
    """(tokens in the database's day row, tokens in the Redis day counter)."""
    with gw.app.app_context():
        row = db.session.execute(
            db.select(Usage.period, Usage.tokens).where(Usage.period.like("d:%"))
        ).first()
        db.session.remove()
    if row is None:
        return None, None
    counter = client.keys(f"{prefix}:quota:*:{row.period}")
    live = client.hget(counter[0], "t") if len(counter) == 1 else None
    return row.tokens, None if live is None else int(live)


def test_slots_and_charges_come_back_after_a_redis_outage(tmp_path, fake, own_redis):
    port, client = own_redis
    cable = Cable(port)
    gw = LiveGateway(
        tmp_path,
        fake.url,
        env={
            "OLLAMA_GATE_REDIS_URL": f"redis://127.0.0.1:{cable.port}/0",
            "OLLAMA_GATE_REDIS_PREFIX": "og",
        },
    ).start()
    try:
        key = gw.key(max_concurrency=2, tokens_per_day=10**9)
        one = requests.post(
            gw.url + "/api/generate", json=GENERATE, headers=auth(key), timeout=30
        )
        assert one.status_code == 200  # the quota counters exist in Redis
        fake.hold_second_chunk = True
        started = threading.Semaphore(0)
        with ThreadPoolExecutor(2) as pool:
            streams = [pool.submit(held_stream, gw, key, started) for _ in range(2)]
            for _ in streams:
                assert started.acquire(timeout=30)
            assert len(slots_held(client)) == 3  # the key's, the backend's, model's
            cable.set("cut")  # Redis gone while both calls run
            fake.release.set()  # they end, and are recorded, during the outage
            assert [s.result(timeout=30) for s in streams] == [200, 200]
        time.sleep(3)  # an outage of a few seconds
        cable.set("open")
        until(
            lambda: (lambda db_tokens, live: db_tokens == live)(
                *charged(gw, client, "og")
            )
        )
        database, live = charged(gw, client, "og")
        assert database and database == live  # every token charged in Redis too
        assert until(lambda: not slots_held(client)), slots_held(client)
        fake.hold_second_chunk = False
        both = [
            requests.post(
                gw.url + "/api/generate", json=GENERATE, headers=auth(key), timeout=30
            ).status_code
            for _ in range(2)
        ]
        assert both == [200, 200]
    finally:
        gw.stop()
        cable.close()


def answers(gw: LiveGateway, key: str) -> int | None:
    """The status of one whole generate, or None while no worker answers."""
    try:
        return requests.post(
            gw.url + "/api/generate",
            json={**GENERATE, "stream": False},
            headers=auth(key),
            timeout=30,
        ).status_code
    except requests.ConnectionError:
        return None


def worker_pids(master: int) -> list[int]:
    """The gunicorn master's worker processes."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:
            found.append(int(stat.parent.name))
    return found


def lease(client: redis.Redis) -> tuple[str, float] | None:
    """The key's one concurrency lease (token, score), if there is one."""
    found = client.keys("og:inflight:*")
    if len(found) != 1:
        return None
    entries = client.zrange(found[0], 0, -1, withscores=True)
    return (entries[0][0], entries[0][1]) if len(entries) == 1 else None


def test_a_lease_is_renewed_while_its_call_runs_and_ends_with_its_worker(
    tmp_path, fake, own_redis
):
    port, client = own_redis
    gw = LiveGateway(
        tmp_path,
        fake.url,
        env={
            "OLLAMA_GATE_REDIS_URL": f"redis://127.0.0.1:{port}/0",
            "OLLAMA_GATE_REDIS_PREFIX": "og",
            "OLLAMA_GATE_SLOT_LEASE_SECONDS": "2",
        },
    ).start()
    try:
        key = gw.key(max_concurrency=1)
        fake.hold_second_chunk = True
        started = threading.Semaphore(0)
        with ThreadPoolExecutor(1) as pool:
            held = pool.submit(held_stream, gw, key, started)
            assert started.acquire(timeout=30)
            token, first = lease(client)
            # renewed past the point where it would have expired
            assert until(lambda: (lease(client) or (0, 0))[1] > first + 2.5)
            assert lease(client)[0] == token
            assert answers(gw, key) == 429  # the running call still holds it
            for pid in worker_pids(gw.proc.pid):
                os.kill(pid, signal.SIGKILL)  # the worker dies mid-call
            fake.release.set()
            held.result(timeout=30)
        assert until(lambda: lease(client) is None)  # its slot ends with its lease
        fake.hold_second_chunk = False
        assert until(lambda: answers(gw, key) == 200)  # a new worker, a free slot
    finally:
        gw.stop()
