"""The producers and ``emit``'s promise: an event from a stage never fails the call,
even with the database gone; keys expiring soon make one event each; a call that
waited long in the queue makes a ``queue.wait``."""

from __future__ import annotations

from datetime import timedelta

from ollama_gate import create_app
from ollama_gate.events import emit, producers
from ollama_gate.events.models import Event
from ollama_gate.events.producers import expiring_keys, queue_waited
from ollama_gate.extensions import db
from ollama_gate.models import utcnow
from ollama_gate.pipeline import Stage
from tests.events.test_events import events_of
from tests.helpers.keys import add_key
from tests.helpers.services import free_port


class Emitting(Stage):
    """A stage that tells of every call it admits."""

    name = "emitting"

    def admit(self, call) -> None:
        emit("budget.threshold", "key:1", "<b>80%</b> used", {"odd": object()})


def with_stage(app, stage) -> None:
    gate = app.extensions["ollama_gate"]
    gate.set_stages([stage, *gate.pipeline.stages])


def generate(client, key):
    return client.post(
        "/api/generate",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "llama3.2", "prompt": "hi", "stream": False},
    )


def kinds(app) -> list[str]:
    with app.app_context():
        return list(db.session.execute(db.select(Event.kind)).scalars())


def test_emit_from_a_stage_never_fails_the_call_even_with_the_table_gone(
    app, client, key
):
    events = events_of(app)
    with_stage(app, Emitting())
    with app.app_context():
        Event.__table__.drop(db.engine)  # the events' database is gone
    assert generate(client, key).status_code == 200
    events.run_once()  # does not raise: the fact is kept for later
    assert len(events.kept) == 1
    with app.app_context():
        Event.__table__.create(db.engine)
    events.run_once()
    assert not events.kept
    with app.app_context():
        event = db.session.execute(db.select(Event)).scalar_one()
        assert event.message == "<b>80%</b> used"
        assert event.data["odd"].startswith("<object object")  # kept as text


def test_emit_and_the_writer_survive_a_database_that_does_not_answer(fake):
    dead = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none"
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "t",
            "SQLALCHEMY_DATABASE_URI": dead,
            "BACKENDS": [fake.url],
        }
    )
    events = events_of(app)
    emit("backend.down", "backend:x", "down", app=app)
    with app.app_context():
        emit("backend.down", "backend:y", "down")
    emit("test", "x", "no app, no context: dropped quietly")
    events.run_once()  # no exception
    assert len(events.kept) == 2


def test_a_key_expiring_soon_makes_one_event_per_key_and_expiry(app):
    events_of(app)
    now = utcnow()
    add_key(app, "alice", expires_at=now + timedelta(days=3), name="ci")
    add_key(app, "bob", expires_at=now + timedelta(days=30))
    add_key(app, "carol", expires_at=now - timedelta(days=1))  # expired already
    add_key(app, "dave")  # never expires
    with app.app_context():
        assert expiring_keys(app) == 1
        assert expiring_keys(app) == 0  # another round, or another worker
        event = db.session.execute(db.select(Event)).scalar_one()
    assert event.kind == "key.expiring"
    assert event.data["user"] == "alice" and event.data["name"] == "ci"
    assert "alice" in event.message and "expires on" in event.message


def test_a_key_given_a_new_expiry_is_told_again(app):
    from ollama_gate.models import ApiKey

    add_key(app, "alice", expires_at=utcnow() + timedelta(days=2))
    with app.app_context():
        assert expiring_keys(app) == 1
        key = db.session.execute(db.select(ApiKey)).scalar_one()
        key.expires_at = utcnow() + timedelta(days=5)
        db.session.commit()
        assert expiring_keys(app) == 1


def test_a_long_queue_wait_makes_one_event_per_model_and_minute(app, monkeypatch):
    events = events_of(app)
    monkeypatch.setattr(producers.time, "time", lambda: 1_800_000_000.0)
    with app.test_request_context():
        queue_waited("llama3.2", 5.0)  # under the bound (30 s)
        queue_waited("llama3.2", 31.0)
        queue_waited("llama3.2", 45.0)  # the same minute: told already
        queue_waited("qwen2.5", 40.0)
    events.run_once()
    with app.app_context():
        subjects = sorted(db.session.execute(db.select(Event.subject)).scalars())
    assert subjects == ["model:llama3.2", "model:qwen2.5"]


def test_the_queue_wait_bound_can_be_turned_off(app):
    events = events_of(app)
    app.config["GATE"]["EVENT_QUEUE_WAIT_SECONDS"] = 0.0
    with app.test_request_context():
        queue_waited("phi3", 500.0)
    events.run_once()
    assert kinds(app) == []


def test_emit_takes_odd_data_without_raising(app):
    events = events_of(app)
    emit("queue.wait", "model:x", "a list", data=[1, 2], app=app)
    emit("queue.wait", "model:x", "a set", data={3}, app=app)
    emit("queue.wait", "model:x", "x" * 5000, data={"k": b"bytes"}, app=app)
    events.run_once()
    with app.app_context():
        rows = db.session.execute(db.select(Event).order_by(Event.id)).scalars().all()
        assert [r.data for r in rows] == [
            {"value": [1, 2]},
            {"value": "{3}"},
            {"k": "b'bytes'"},
        ]
        assert len(rows[2].message) == 2000  # cut, not refused


def test_a_call_that_waited_in_the_queue_past_the_bound_makes_an_event(tmp_path, pool):
    """Through the scheduler: the second call waits for the first's slot."""
    import threading
    import time

    from tests.scheduler.test_scheduler import generate, in_threads, one_backend

    gpu1 = pool[0]
    app = one_backend(tmp_path, pool, parallel=1, EVENT_QUEUE_WAIT_SECONDS=0.05)
    events = events_of(app)
    key = add_key(app)
    gpu1.hold_second_chunk = True
    threads = in_threads([lambda: generate(app, key, "held", stream=True).get_data()])
    assert gpu1.first_chunk_sent.wait(10)
    threads += in_threads([lambda: generate(app, key, "waits")])
    queue = app.extensions["ollama_gate"].sched.scheduler.queue
    deadline = time.monotonic() + 10
    while not queue.waiting() and time.monotonic() < deadline:
        time.sleep(0.01)
    threading.Event().wait(0.2)  # past the bound
    gpu1.release.set()
    for t in threads:
        t.join(10)
    events.run_once()
    with app.app_context():
        event = db.session.execute(db.select(Event)).scalar_one()
    assert event.kind == "queue.wait" and event.subject == "model:llama3.2"
    assert event.data["seconds"] >= 0.2 and event.data["bound"] == 0.05


def test_only_a_serving_worker_watches_the_backends(app):
    """A command's passing look at the fleet (``backends list``) tells nothing; a
    serving worker's health loop does, with one watcher however often started."""
    from ollama_gate import events
    from ollama_gate.events.producers import BackendWatch

    checker = app.extensions["ollama_gate"].checker
    watching = lambda: [h for h in checker.after_checks if isinstance(h, BackendWatch)]  # noqa: E731
    assert watching() == []
    events_of(app)
    app.extensions["ollama_gate_events"].start = lambda: None  # no thread here
    events.start(app)
    events.start(app)
    assert len(watching()) == 1
