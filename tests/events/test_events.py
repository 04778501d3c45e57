"""The event log and its webhooks: one signed delivery per event and webhook, even
with two workers sending from one database (SQLite, and PostgreSQL when it runs);
retries with backoff, each attempt recorded; ``emit`` never failing a call."""

from __future__ import annotations

import hashlib
import hmac
import threading
from datetime import timedelta

import pytest

from ollama_gate import create_app
from ollama_gate.events import emit, emit_change
from ollama_gate.events.emit import EXTENSION
from ollama_gate.events.hooks import add_hook
from ollama_gate.events.kinds import BACKEND_STATES
from ollama_gate.events.models import Delivery, Event
from ollama_gate.extensions import db
from ollama_gate.models import utcnow
from tests.helpers.services import free_port
from tests.helpers.webhook_receiver import Receiver


def events_of(app):
    """The app's event writer, driven by hand (its thread never starts)."""
    events = app.extensions[EXTENSION]
    events.auto = False
    return events


def hook(app, url: str, kinds: str = "") -> tuple[int, str]:
    with app.app_context():
        h, secret = add_hook(url, kinds=kinds)
        return h.id, secret


def check_signed(request: dict, secret: str) -> None:
    """The delivery's signature is the HMAC of ``timestamp.body`` under ``secret``."""
    headers, body = request["headers"], request["body"]
    signed = headers["x-ollama-gate-timestamp"].encode() + b"." + body
    want = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    assert headers["x-ollama-gate-signature"] == "sha256=" + want
    assert headers["x-ollama-gate-event"] == request["json"]["kind"]
    assert headers["x-ollama-gate-event-id"] == str(request["json"]["id"])
    assert set(request["json"]) == {"id", "kind", "at", "subject", "message", "data"}


def test_an_event_is_delivered_once_signed(app, receiver):
    events = events_of(app)
    _, secret = hook(app, receiver.url)
    emit("budget.threshold", "team:3", "80% used", {"used": 0.8}, app=app)
    events.run_once()
    events.run_once()  # nothing due any more
    assert len(receiver.received) == 1
    got = receiver.received[0]
    check_signed(got, secret)
    assert got["json"]["kind"] == "budget.threshold"
    assert got["json"]["data"] == {"used": 0.8}
    with app.app_context():
        (d,) = db.session.execute(db.select(Delivery)).scalars()
        assert d.done and d.status == 200 and d.attempt == 1


def test_a_hook_gets_only_the_kinds_it_asked_for(app, receiver):
    events = events_of(app)
    hook(app, receiver.url, kinds="backend.*,key.expiring")
    with app.app_context():
        for kind in ("backend.down", "queue.wait", "key.expiring", "budget.shadow"):
            emit(kind, "x", "m")
    events.run_once()
    assert sorted(r["json"]["kind"] for r in receiver.received) == [
        "backend.down",
        "key.expiring",
    ]


def test_the_same_fact_from_several_workers_is_one_event(app):
    events = events_of(app)
    for _ in range(3):
        emit("budget.exhausted", "key:1", "gone", dedupe="b|key:1|2026-12", app=app)
    events.run_once()
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Event)) == 1


def test_a_change_of_state_is_one_event_per_change(app):
    events = events_of(app)

    def seen(kind: str, first: bool) -> None:
        emit_change(
            kind, "backend:gpu1", kind, states=BACKEND_STATES, first=first, app=app
        )

    seen("backend.up", False)  # a worker's first look: no change to tell
    for _ in range(2):  # two workers see it go down, then come back
        seen("backend.down", True)
    events.run_once()
    for _ in range(2):
        seen("backend.up", False)
    events.run_once()
    seen("backend.down", True)
    events.run_once()
    with app.app_context():
        kinds = db.session.execute(db.select(Event.kind).order_by(Event.id)).scalars()
        assert list(kinds) == ["backend.down", "backend.up", "backend.down"]


def run_two_workers(apps, n_events: int) -> None:
    """Both apps' writers and senders racing on one database until all is sent."""
    for app in apps:
        for i in range(n_events):  # each worker saw every fact
            emit("queue.wait", f"model:m{i}", "long wait", dedupe=f"q|{i}", app=app)
    barrier = threading.Barrier(len(apps))
    errors = []

    def work(app) -> None:
        try:
            barrier.wait()
            for _ in range(5):
                events_of(app).run_once()
        except Exception as exc:  # pragma: no cover - shown by the assert
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(a,)) for a in apps]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors


def two_apps(url: str, fake_url: str):
    apps = []
    for _ in range(2):
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "t",
                "SQLALCHEMY_DATABASE_URI": url,
                "BACKENDS": [fake_url],
            }
        )
        events_of(app)
        apps.append(app)
    with apps[0].app_context():
        db.create_all()
    return apps


def check_once_each(apps, receiver, secret, n_events: int) -> None:
    ids = receiver.ids()
    assert len(ids) == n_events and len(set(ids)) == n_events, ids
    for request in receiver.received:
        check_signed(request, secret)
    with apps[0].app_context():
        rows = db.session.execute(db.select(Delivery)).scalars().all()
        assert len(rows) == n_events and all(d.status == 200 for d in rows)
    for app in apps:
        with app.app_context():
            db.engine.dispose()


def test_two_workers_on_sqlite_deliver_each_event_once(tmp_path, fake, receiver):
    apps = two_apps(f"sqlite:///{tmp_path / 'shared.db'}", fake.url)
    _, secret = hook(apps[0], receiver.url)
    run_two_workers(apps, 20)
    check_once_each(apps, receiver, secret, 20)


@pytest.mark.needs_postgres
def test_two_workers_on_postgresql_deliver_each_event_once(
    postgres_url, fake, receiver
):
    apps = two_apps(postgres_url, fake.url)
    _, secret = hook(apps[0], receiver.url)
    run_two_workers(apps, 20)
    check_once_each(apps, receiver, secret, 20)


def due_now(app) -> None:
    """Let time pass: every waiting attempt is due."""
    with app.app_context():
        db.session.execute(
            db.update(Delivery)
            .where(Delivery.done.is_(False))
            .values(next_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()


def test_a_failing_receiver_is_retried_with_backoff_and_each_attempt_kept(app):
    receiver = Receiver(statuses=(500, 503, 200))
    try:
        events = events_of(app)
        app.config["GATE"]["WEBHOOK_BACKOFF_SECONDS"] = 60.0
        _, secret = hook(app, receiver.url)
        emit("budget.exhausted", "team:1", "used up", app=app)
        events.run_once()
        events.run_once()  # the second attempt is not due for a minute
        assert len(receiver.received) == 1
        due_now(app)
        events.run_once()
        due_now(app)
        events.run_once()
        events.run_once()
        assert len(receiver.received) == 3
        assert len(set(receiver.ids())) == 1  # one event, three attempts
        for request in receiver.received:
            check_signed(request, secret)
        with app.app_context():
            tries = (
                db.session.execute(db.select(Delivery).order_by(Delivery.attempt))
                .scalars()
                .all()
            )
        assert [(d.attempt, d.status, d.done) for d in tries] == [
            (1, 500, True),
            (2, 503, True),
            (3, 200, True),
        ]
    finally:
        receiver.close()


def test_the_backoff_doubles_and_attempts_end(app):
    receiver = Receiver(statuses=(500,))
    try:
        events = events_of(app)
        gate = app.config["GATE"]
        gate["WEBHOOK_BACKOFF_SECONDS"], gate["WEBHOOK_ATTEMPTS"] = 10.0, 3
        hook(app, receiver.url)
        emit("queue.wait", "model:x", "slow", app=app)
        events.run_once()
        with app.app_context():
            first, second = db.session.execute(
                db.select(Delivery).order_by(Delivery.attempt)
            ).scalars()
            assert (second.next_at - first.at).total_seconds() == pytest.approx(
                10, abs=1
            )
        due_now(app)
        events.run_once()
        with app.app_context():
            rows = (
                db.session.execute(db.select(Delivery).order_by(Delivery.attempt))
                .scalars()
                .all()
            )
            assert (rows[2].next_at - rows[1].at).total_seconds() == pytest.approx(
                20, abs=1
            )
        due_now(app)
        events.run_once()
        due_now(app)
        events.run_once()
        assert len(receiver.received) == 3  # WEBHOOK_ATTEMPTS, then it gives up
        with app.app_context():
            rows = db.session.execute(db.select(Delivery)).scalars().all()
            assert len(rows) == 3 and all(d.done and d.status == 500 for d in rows)
    finally:
        receiver.close()


def test_an_unreachable_receiver_is_recorded_without_its_url(app):
    events = events_of(app)
    port = free_port()
    hook(app, f"http://127.0.0.1:{port}/secret-token-in-path")
    emit("queue.wait", "model:x", "slow", app=app)
    events.run_once()
    with app.app_context():
        first = db.session.execute(
            db.select(Delivery).where(Delivery.attempt == 1)
        ).scalar_one()
        assert first.done and first.status is None
        assert first.error == "could not connect"
        assert db.session.scalar(db.select(db.func.count()).select_from(Delivery)) == 2


def test_the_docs_snippet_verifies_a_delivery_and_refuses_a_forgery(app, receiver):
    from tests.helpers.paths import ROOT

    text = (ROOT / "docs" / "events.md").read_text()
    snippet = text.split("```python\n", 1)[1].split("```", 1)[0]
    space: dict = {}
    exec(snippet, space)  # the reader's own code, as printed
    verified = space["verified"]
    events = events_of(app)
    _, secret = hook(app, receiver.url)
    emit("key.expiring", "key:1", "soon", app=app)
    events.run_once()
    got = receiver.received[0]
    headers = {k.title(): v for k, v in got["headers"].items()}
    assert verified(secret, headers, got["body"])
    assert not verified("another-secret-entirely", headers, got["body"])
    assert not verified(secret, headers, got["body"].replace(b"soon", b"late"))
    stale = {**headers, "X-Ollama-Gate-Timestamp": "1000000000"}
    assert not verified(secret, stale, got["body"])
