"""The history rows' driver insert on SQLite stores what SQLAlchemy's insert stores."""

from __future__ import annotations

from sqlalchemy import insert, text

from ollama_gate.extensions import db
from ollama_gate.history.insert import RowInserter
from ollama_gate.history.models import Request, new_id
from ollama_gate.models import utcnow


def full_row(**values) -> dict:
    """A row with every column of the table, as ``record_values`` makes them."""
    row = {c.key: None for c in Request.__table__.columns}
    row.update(
        id=new_id(),
        started_at=utcnow(),
        user_name="ann",
        key_prefix="og-1",
        key_name="",
        team_name="",
        method="POST",
        endpoint="/api/chat",
        path="/api/chat",
        streamed=True,
        completed=False,
        disconnected=True,
        truncated=False,
        cache_hit=False,
        mode="full",
        prompt_tokens=3,
        completion_tokens=4,
        total_tokens=7,
        ttfb_ms=1.5,
        prompt_text="why é",
        answer_text="",
        request={"model": "llama3.2", "messages": [{"content": "why é"}]},
        answer=None,  # JSON's None: stored as SQLAlchemy stores it
        stats={"eval_count": 4},
    )
    row.update(values)
    return row


def stored(row_id: str) -> tuple:
    """The row as the database holds it, every column raw (no type conversion)."""
    return tuple(
        db.session.execute(
            text("SELECT * FROM history_requests WHERE id = :id"), {"id": row_id}
        ).one()
    )


def test_driver_rows_are_stored_as_sqlalchemy_stores_them(app):
    with app.app_context():
        assert db.engine.dialect.name == "sqlite"
        ours = full_row()
        theirs = full_row(started_at=ours["started_at"])
        theirs_id = theirs["id"]
        RowInserter(Request.__table__)(db.session, [ours])
        db.session.execute(insert(Request.__table__), [theirs])
        db.session.commit()
        a, b = stored(ours["id"]), stored(theirs_id)
        # the same columns and values, but for the id
        assert a[1:] == b[1:] and a[0] == ours["id"] and b[0] == theirs_id


def test_rows_with_fewer_columns_take_sqlalchemys_insert(app):
    """Columns left out get their defaults, which only SQLAlchemy's insert gives."""
    with app.app_context():
        row = {"id": new_id(), "started_at": utcnow(), "user_name": "b"}
        RowInserter(Request.__table__)(db.session, [row])
        db.session.commit()
        got = db.session.get(Request, row["id"])
        assert (got.user_name, got.method, got.streamed) == ("b", "POST", False)


def test_a_recorded_call_takes_the_driver_insert(app, client, key):
    """``record_values`` names every column, so real records take the fast path."""
    from ollama_gate.history.record import HistoryStage

    resp = client.post(
        "/api/generate",
        json={"model": "llama3.2", "prompt": "hi", "stream": False},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert resp.status_code == 200
    gate = app.extensions["ollama_gate"]
    gate.recorder.flush()
    (stage,) = [s for s in gate.pipeline.stages if isinstance(s, HistoryStage)]
    assert "sqlite" in stage.insert._prepared
    with app.app_context():
        assert db.session.query(Request).count() == 1
