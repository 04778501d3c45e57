"""The recorder: background hooks in batches, isolated from each other's failures."""

from __future__ import annotations

from ollama_gate.extensions import db
from ollama_gate.models import User


def test_a_hook_that_breaks_the_session_does_not_break_the_next(app):
    """A failed flush leaves the session needing a rollback; the next hook runs."""
    recorder = app.extensions["ollama_gate"].recorder
    seen = []

    def broken(calls):
        db.session.add_all([User(name="twin"), User(name="twin")])
        db.session.flush()  # IntegrityError: the session must be rolled back

    def counting(calls):
        db.session.add(User(name=f"after-{len(calls)}"))
        db.session.commit()
        seen.extend(calls)

    recorder.hooks[:] = [broken, counting]
    recorder.submit("call")
    recorder.flush()
    assert seen == ["call"]
    with app.app_context():
        names = db.session.execute(db.select(User.name)).scalars().all()
    assert names == ["after-1"]


def test_a_full_backlog_keeps_the_oldest_and_counts_the_dropped(tmp_path, fake):
    from prometheus_client import REGISTRY
    from sqlalchemy.exc import OperationalError

    from tests.proxy.test_errors import make_app

    app = make_app(tmp_path, BACKENDS=[fake.url], RECORD_MAX_PENDING=3)
    recorder = app.extensions["ollama_gate"].recorder
    down, written = [True], []

    def history(calls):
        if down[0]:
            raise OperationalError("INSERT", {}, Exception("connection refused"))
        written.extend(calls)

    def dropped() -> float:
        sample = "ollama_gate_records_dropped_total"
        return REGISTRY.get_sample_value(sample, {"step": "history"}) or 0.0

    history.__name__ = "history"
    recorder.hooks[:] = [history]
    before = dropped()
    for n in range(5):
        recorder.submit(n)
        recorder.flush()  # one batch each: the database is tried every time
    assert written == []
    assert dropped() == before + 2
    down[0] = False
    recorder.flush()  # the kept ones are tried again now
    assert written == [0, 1, 2]  # the oldest, in order; the newest were dropped
    recorder.submit(5)
    recorder.flush()
    assert written == [0, 1, 2, 5]
