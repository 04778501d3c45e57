"""Per-key concurrency cap: calls in flight, freed the moment a call ends."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.helpers.keys import add_key

STREAM = {"model": "llama3.2", "prompt": "Hi"}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_cap_refuses_while_full_and_frees_on_end(app, client, fake):
    key = add_key(app, max_concurrency=2)
    # the streams wait after their first chunk: in flight until released (an answer
    # that has all arrived by the client's first read frees its slot with that read)
    fake.hold_second_chunk = True
    first = client.post("/api/generate", json=STREAM, headers=auth(key), buffered=False)
    second = client.post(
        "/api/generate", json=STREAM, headers=auth(key), buffered=False
    )
    assert first.status_code == second.status_code == 200
    refused = client.post("/api/generate", json=STREAM, headers=auth(key))
    assert refused.status_code == 429
    assert "already has 2 calls in flight" in refused.get_json()["error"]
    assert refused.headers["Retry-After"] == "1"
    other = add_key(app, "bob", max_concurrency=1)  # caps are per key
    assert client.get("/api/tags", headers=auth(other)).status_code == 200
    fake.release.set()
    first.get_data()  # read to the end: the slot is free again
    first.close()
    third = client.post("/api/generate", json=STREAM, headers=auth(key), buffered=False)
    assert third.status_code == 200
    second.close()  # a client that leaves early frees its slot too
    third.close()
    codes = [
        client.post(
            "/api/generate", json={**STREAM, "stream": False}, headers=auth(key)
        ).status_code
        for _ in range(3)
    ]
    assert codes == [200, 200, 200]


def test_refused_calls_give_their_slot_back(app, client):
    key = add_key(app, max_concurrency=1, rate_limit="1/minute")
    assert client.get("/api/tags", headers=auth(key)).status_code == 200
    for _ in range(3):  # refused by the rate limit after taking the slot
        assert client.get("/api/tags", headers=auth(key)).status_code == 429
    limits = app.extensions["ollama_gate_limits"]
    with app.app_context():
        assert limits.concurrency.slots.in_flight(1) == 0


def test_cap_holds_under_concurrency_in_one_worker(gateway, fake):
    key = gateway.key(max_concurrency=3)
    fake.hold_second_chunk = True  # every stream waits after its first chunk
    answered = threading.Semaphore(0)

    def one(_):
        with requests.post(
            gateway.url + "/api/generate",
            json=STREAM,
            headers=auth(key),
            stream=True,
            timeout=30,
        ) as resp:
            if resp.status_code == 200:
                pieces = resp.iter_content(None)
                next(pieces)  # the first chunk: this call is in flight
                answered.release()
                body = b"".join(pieces)  # held until the fake is released
                assert b'"done":true' in body  # read to the very end
            else:
                answered.release()
            return resp.status_code

    with ThreadPoolExecutor(12) as pool:
        futures = [pool.submit(one, i) for i in range(12)]
        for _ in range(12):  # every call is in flight or refused; none has ended
            assert answered.acquire(timeout=20)
        fake.release.set()
        codes = [f.result() for f in futures]
    assert codes.count(200) == 3 and codes.count(429) == 9
    fake.hold_second_chunk = False
    after = requests.post(
        gateway.url + "/api/generate",
        json={**STREAM, "stream": False},
        headers=auth(key),
        timeout=30,
    )
    assert after.status_code == 200, after.text  # every slot came back
