"""``/metrics`` under real gunicorn with two gevent workers (multiprocess mode): each
counter, parsed with prometheus_client's own parser, matches the calls made, whichever
worker answered them and whichever worker is scraped; a killed worker's calls in
flight stop counting."""

from __future__ import annotations

import json
import os
import re
import signal
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers.live import LiveGateway
from tests.limits.test_redis import auth, one_session_per_worker, two_worker_gateway

CHAT = {
    "model": "llama3.2",
    "messages": [{"role": "user", "content": "Hi there"}],
    "stream": False,
}


def samples(text: str) -> list:
    """Every sample of the exposition text, as the parser reads it."""
    return [
        s for family in text_string_to_metric_families(text) for s in family.samples
    ]


def value(found: list, name: str, **labels: str) -> float:
    """The sum of the samples named ``name`` whose labels include ``labels``."""
    return sum(
        s.value
        for s in found
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def since(before: list, after: list) -> list:
    """``after`` less ``before``: each counter's samples as added in between (gauges
    are left as they are)."""
    old = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in before}
    return [
        s._replace(
            value=s.value - old.get((s.name, tuple(sorted(s.labels.items()))), 0)
        )
        if not s.name.endswith(("_in_flight", "_ready"))
        else s
        for s in after
    ]


def scrape(session: requests.Session, url: str) -> list:
    reply = session.get(url + "/metrics", timeout=10)
    assert reply.status_code == 200, reply.text
    assert reply.headers["Content-Type"].startswith("text/plain")
    return samples(reply.text)


def scrape_until(session, url: str, before: list, done) -> list:
    """The counts since ``before``, scraped again until ``done(counts)``: each call
    is counted once its record step has run, in its worker's background batch."""
    deadline = time.monotonic() + 20
    while True:
        found = since(before, scrape(session, url))
        if done(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def counted(calls: int, **labels: str):
    """``done`` for ``scrape_until``: this many calls (with these labels) counted."""
    return lambda found: value(found, "ollama_gate_calls_total", **labels) >= calls


@pytest.mark.needs_redis
def test_metrics_add_up_over_two_workers(tmp_path, fake_server):
    fake_server.reset()
    gw = two_worker_gateway(
        tmp_path,
        fake_server.url,
        OLLAMA_GATE_WORKER_CONNECTIONS="1",
        # the health loop checks at start only: a later check could take the 500
        # this test hands the next request to (the fake's next_status)
        OLLAMA_GATE_HEALTH_INTERVAL="3600",
        # the gauge as the worker sees it now (a worker's first health check runs
        # while it already serves: a cached "not yet" would outlast this test)
        OLLAMA_GATE_READY_CACHE_SECONDS="0",
    )
    backend = fake_server.url.split("://", 1)[1]  # a bare URL is named host:port
    try:
        (_, a), (_, b) = one_session_per_worker(gw, gw.key()).items()
        # the counts so far: the start-up's keyless polls (401), the two sessions'
        # first calls (counted once their record step has run)
        before = scrape_until(a, gw.url, [], counted(2, status="200"))
        assert value(before, "ollama_gate_calls_total", status="200") == 2
        key = gw.key()
        tokens_in = tokens_out = 0

        def chat(session) -> requests.Response:
            nonlocal tokens_in, tokens_out
            reply = session.post(
                gw.url + "/api/chat", json=CHAT, headers=auth(key), timeout=30
            )
            if reply.status_code == 200:
                tokens_in += reply.json()["prompt_eval_count"]
                tokens_out += reply.json()["eval_count"]
            return reply

        assert [chat(a).status_code, chat(a).status_code] == [200, 200]
        assert chat(b).status_code == 200
        stream = a.post(
            gw.url + "/api/generate",
            json={"model": "llama3.2", "prompt": "Say it", "stream": True},
            headers=auth(key),
            timeout=30,
        )
        last = json.loads(stream.text.strip().splitlines()[-1])
        tokens_in += last["prompt_eval_count"]
        tokens_out += last["eval_count"]
        fake_server.next_status = (500, {"error": "model runner crashed"})
        assert chat(b).status_code == 500  # the backend's own error
        bad = b.get(gw.url + "/api/tags", headers=auth("og_not-a-key"), timeout=10)
        assert bad.status_code == 401
        limited = gw.key(rate_limit="1/minute")
        codes = [
            a.get(gw.url + "/api/version", headers=auth(limited), timeout=10),
            b.get(gw.url + "/api/version", headers=auth(limited), timeout=10),
        ]
        assert [c.status_code for c in codes] == [200, 429]
        calls = 3 + 1 + 1 + 1 + 2

        # a stream held open on worker b is in flight, as worker a reports it
        fake_server.hold_second_chunk = True
        held = b.post(
            gw.url + "/api/generate",
            json={"model": "llama3.2", "prompt": "Wait", "stream": True},
            headers=auth(key),
            stream=True,
            timeout=30,
        )
        assert fake_server.first_chunk_sent.wait(10)
        found = scrape_until(a, gw.url, before, counted(calls))
        assert value(found, "ollama_gate_calls_in_flight") == 1
        fake_server.release.set()
        last = json.loads(held.content.strip().splitlines()[-1])
        tokens_in += last["prompt_eval_count"]
        tokens_out += last["eval_count"]
        calls += 1
        fake_server.hold_second_chunk = False

        for session in (a, b):  # either worker reports every worker's counts
            found = scrape_until(session, gw.url, before, counted(calls))
            assert value(found, "ollama_gate_calls_total") == calls
            assert value(found, "ollama_gate_calls_in_flight") == 0
            chat_ok = dict(endpoint="/api/chat", status="200", backend=backend)
            assert value(found, "ollama_gate_calls_total", **chat_ok) == 3
            assert (
                value(
                    found, "ollama_gate_calls_total", model="llama3.2:latest", **chat_ok
                )
                == 3
            )
            assert (
                value(found, "ollama_gate_calls_total", endpoint="/api/generate") == 2
            )
            assert value(found, "ollama_gate_calls_total", status="401") == 1
            # refusals (no backend asked) apart from the backend's errors
            assert value(found, "ollama_gate_refusals_total") == 2
            assert value(found, "ollama_gate_refusals_total", status="401") == 1
            assert value(found, "ollama_gate_refusals_total", status="429") == 1
            assert value(found, "ollama_gate_upstream_errors_total") == 1
            assert (
                value(
                    found,
                    "ollama_gate_upstream_errors_total",
                    backend=backend,
                    status="500",
                )
                == 1
            )
            # tokens: the counts the backend reported, the held stream's included
            assert value(found, "ollama_gate_tokens_total", direction="in") == (
                tokens_in
            )
            assert value(found, "ollama_gate_tokens_total", direction="out") == (
                tokens_out
            )
            # every call that reached the gateway's pipeline has its times
            timed = value(
                found, "ollama_gate_call_duration_seconds_count", endpoint="/api/chat"
            )
            assert timed == 4  # three answers and the 500
            assert (
                value(
                    found,
                    "ollama_gate_time_to_first_byte_seconds_count",
                    endpoint="/api/generate",
                )
                == 2
            )
            # a gauge: its value now, not a difference since ``before``
            ready = scrape(session, gw.url)
            assert value(ready, "ollama_gate_backends_ready") == 1
    finally:
        gw.stop()


def test_a_killed_workers_calls_in_flight_no_longer_count(tmp_path, fake):
    """A worker killed mid-stream never releases its call: gunicorn's master drops
    its live gauge (``child_exit``), so the new worker reports none in flight."""
    gw = LiveGateway(tmp_path, fake.url).start()  # one worker: no Redis needed
    try:
        key = gw.key()
        fake.hold_second_chunk = True
        held = requests.post(
            gw.url + "/api/generate",
            json={"model": "llama3.2", "prompt": "Wait"},
            headers=auth(key),
            stream=True,
            timeout=30,
        )
        assert fake.first_chunk_sent.wait(10)
        assert value(scrape(requests, gw.url), "ollama_gate_calls_in_flight") == 1
        (pid,) = booted(gw)
        os.kill(int(pid), signal.SIGKILL)
        held.close()
        fake.release.set()
        deadline = time.monotonic() + 30
        while len(booted(gw)) < 2:  # the master starts a new worker
            assert time.monotonic() < deadline, gw.log_path.read_text()[-2000:]
            time.sleep(0.1)
        found = None
        while found is None and time.monotonic() < deadline:
            try:
                found = scrape(requests, gw.url)
            except requests.ConnectionError:
                time.sleep(0.1)
        assert found is not None
        assert value(found, "ollama_gate_calls_in_flight") == 0
    finally:
        gw.stop()


def booted(gw) -> list[str]:
    return re.findall(r"Booting worker with pid: (\d+)", gw.log_path.read_text())
