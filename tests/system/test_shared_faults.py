"""Shared state that goes away: Redis or the database cut or silent gives a clear
503 in seconds, never a hang, and the gateway recovers by itself when it returns
(issue 16)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from ollama_gate.extensions import db
from tests.helpers.keys import add_key
from tests.helpers.services import REDIS_URL
from tests.proxy.test_errors import make_app

CHAT = {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}]}


class Cable:
    """A TCP forwarder to a real service that a test can cut, or make silent."""

    def __init__(self, port: int):
        self.target = ("127.0.0.1", port)
        self.mode = "open"  # open, cut (refuse and drop), silent (accept, say nothing)
        self.conns: list[socket.socket] = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def set(self, mode: str) -> None:
        self.mode = mode
        if mode != "open":
            for conn in self.conns:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.conns.clear()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            if self.mode == "cut":
                client.close()
                continue
            self.conns.append(client)
            if self.mode == "silent":
                continue  # held open, never answered
            upstream = socket.create_connection(self.target)
            self.conns.append(upstream)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.set("cut")
        self.sock.close()


def timed_post(web, key):
    start = time.monotonic()
    resp = web.post("/api/chat", json=CHAT, headers={"Authorization": f"Bearer {key}"})
    resp.get_data()
    return resp, time.monotonic() - start


@pytest.mark.needs_redis
@pytest.mark.parametrize("fault", ["cut", "silent"])
def test_redis_gone_is_a_503_then_recovers_without_restart(tmp_path, fake, fault):
    cable = Cable(int(REDIS_URL.rsplit(":", 1)[1].split("/")[0]))
    app = make_app(
        tmp_path,
        BACKENDS=[fake.url],
        REDIS_URL=f"redis://127.0.0.1:{cable.port}/13",
        REDIS_PREFIX=f"og-fault-{fault}",
    )
    try:
        key = add_key(app, calls_per_day=100)
        web = app.test_client()
        assert timed_post(web, key)[0].status_code == 200
        cable.set(fault)
        resp, took = timed_post(web, key)
        assert resp.status_code == 503 and resp.headers["Retry-After"]
        assert "limit storage" in resp.get_json()["error"]
        assert took < 20  # a bounded wait, never a hang (no timing beyond that)
        cable.set("open")
        assert timed_post(web, key)[0].status_code == 200  # no restart needed
    finally:
        app.extensions["ollama_gate"].recorder.flush()
        cable.close()
        with app.app_context():
            db.engine.dispose()


@pytest.mark.needs_postgres
def test_database_gone_is_a_503_then_recovers_without_restart(
    tmp_path, postgres_url, fake
):
    cable = Cable(5432)
    url = postgres_url.replace("127.0.0.1:5432", f"127.0.0.1:{cable.port}")
    assert url != postgres_url
    app = make_app(tmp_path, SQLALCHEMY_DATABASE_URI=url, BACKENDS=[fake.url])
    try:
        key = add_key(app)
        web = app.test_client()
        assert timed_post(web, key)[0].status_code == 200
        cable.set("cut")
        resp, _ = timed_post(web, key)
        assert resp.status_code == 503
        assert "key store is unavailable" in resp.get_json()["error"]
        cable.set("open")
        assert timed_post(web, key)[0].status_code == 200
    finally:
        cable.close()
        with app.app_context():
            db.engine.dispose()


@pytest.mark.needs_postgres
def test_calls_finished_during_a_database_outage_are_all_recorded_after(
    tmp_path, postgres_url, fake
):
    from ollama_gate.history.models import Request
    from ollama_gate.limits.usage import Usage

    cable = Cable(5432)
    url = postgres_url.replace("127.0.0.1:5432", f"127.0.0.1:{cable.port}")
    # keys stay cached through the outage: calls go on, their records wait
    app = make_app(
        tmp_path,
        SQLALCHEMY_DATABASE_URI=url,
        BACKENDS=[fake.url],
        KEY_CACHE_SECONDS=300,
    )
    recorder = app.extensions["ollama_gate"].recorder
    try:
        key = add_key(app, tokens_per_day=10**9)
        web = app.test_client()
        assert timed_post(web, key)[0].status_code == 200
        recorder.flush()
        cable.set("cut")
        for _ in range(6):  # each its own batch: every one meets the dead database
            assert timed_post(web, key)[0].status_code == 200
            recorder.flush()
        time.sleep(2)  # an outage of a few seconds, past any in-step retry
        recorder.flush()
        cable.set("open")
        deadline = time.monotonic() + 60
        while True:
            recorder.flush()
            with app.app_context():
                rows = db.session.execute(db.select(Request.total_tokens)).all()
                usage = db.session.execute(db.select(Usage.calls, Usage.tokens)).all()
                db.session.remove()
            if len(rows) == 7 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert len(rows) == 7  # every call has its record
        tokens = sum(r[0] for r in rows)
        assert tokens > 0
        # every call and token charged, in the day's, week's and month's rows
        assert sorted(usage) == [(7, tokens)] * 3  # the day, week and month rows
    finally:
        cable.close()
        with app.app_context():
            db.engine.dispose()
