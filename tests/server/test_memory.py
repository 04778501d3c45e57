"""What a connection and a stream hold in the worker (issue 31, bench/memory.py):
greenlets do not record their spawning, and an upstream answer is read lean."""

from __future__ import annotations

import sys

import gevent
import requests

from ollama_gate.server.worker import GateWorker


def test_the_worker_does_not_track_greenlet_trees(monkeypatch):
    """gevent's spawning stack and tree are off in the worker (a stack walk and
    about 1 KB a connection)."""
    monkeypatch.setattr(gevent.config, "track_greenlet_tree", True)
    started = []
    monkeypatch.setattr(
        "gunicorn.workers.ggevent.GeventPyWSGIWorker.init_process",
        lambda self: started.append(gevent.config.track_greenlet_tree),
    )
    worker = GateWorker.__new__(GateWorker)
    worker.cfg = type("Cfg", (), {"keepalive": 75})()
    worker.init_process()
    assert started == [False]
    assert gevent.spawn(lambda: None).spawning_stack is None


def test_streams_and_calls_through_the_worker(gateway, fake):
    """Behaviour through the real worker is as before: a stream, a whole answer and
    an error answer, on one kept-alive connection."""
    key = gateway.key("memory-user")
    with requests.Session() as session:
        headers = {"X-API-Key": key}
        body = {"model": "llama3.2", "prompt": "Hi"}
        streamed = session.post(
            gateway.url + "/api/generate", json=body, headers=headers, timeout=10
        )
        assert streamed.status_code == 200
        lines = streamed.text.splitlines()
        assert len(lines) > 1 and '"done":true' in lines[-1].replace(" ", "")
        whole = session.post(
            gateway.url + "/api/generate",
            json={**body, "stream": False},
            headers=headers,
            timeout=10,
        )
        assert whole.status_code == 200 and whole.json()["done"] is True
        refused = session.post(
            gateway.url + "/api/generate", json=body, headers={}, timeout=10
        )
        assert refused.status_code == 401


def test_an_upstream_answer_is_read_lean(fake):
    """requests' answer without the session's cookie jar (its policy and lock, made
    only for a reader that asks), its head read through a small reader."""
    from ollama_gate.upstream.client import Upstream

    upstream = Upstream(fake.url, 5, 30, 4)
    body = b'{"model":"llama3.2","prompt":"Hi","stream":false}'
    resp = upstream.send("POST", "/api/generate", {}, body)
    try:
        assert isinstance(resp, requests.Response)
        # the head came through a 2 KB reader, not http.client's 8 KB one
        reader = resp.raw._original_response.fp
        assert sys.getsizeof(reader) < 4096, sys.getsizeof(reader)
        assert resp.status_code == 200 and resp.ok
        assert resp.headers["content-type"].startswith("application/json")
        assert "_jar" not in vars(resp) and "cookies" not in vars(resp)
        assert len(resp.cookies) == 0  # made now, as requests' own
        assert resp.url == fake.url + "/api/generate"
        assert resp.json()["done"] is True
    finally:
        resp.close()
