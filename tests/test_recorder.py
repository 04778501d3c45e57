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
