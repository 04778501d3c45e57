"""History CLI: export (JSONL, CSV) round trips, idempotent import, purge, key modes."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlalchemy import func, select

from ollama_gate import create_app
from ollama_gate.extensions import db
from ollama_gate.history.models import Request, new_id
from ollama_gate.models import ApiKey
from tests.helpers.keys import add_key

TRICKY = 'line one\nline "two", with commas\n=SUM(A1) +1 -2 @x \'quoted ünï <b>'


def make_records(app) -> list[dict]:
    """A varied set of records (nulls, JSON, booleans, odd text); their export dicts."""
    with app.app_context():
        rows = [
            Request(
                id=new_id(datetime(2026, 1, 1, 10)),
                started_at=datetime(2026, 1, 1, 10),
                user_name="alice",
                key_prefix="og_alice123",
                endpoint="/api/chat",
                model="llama3.2",
                status=200,
                streamed=True,
                completed=True,
                prompt_tokens=4,
                completion_tokens=8,
                total_tokens=12,
                ttfb_ms=12.5,
                total_ms=80.25,
                prompt_text=TRICKY,
                answer_text="-answer",
                request={
                    "model": "llama3.2",
                    "messages": [{"role": "user", "content": TRICKY}],
                },
                answer={"text": "-answer", "tool_calls": [{"function": {"name": "f"}}]},
                stats={"done_reason": "stop", "eval_duration": 5},
                done_reason="stop",
            ),
            Request(
                id=new_id(datetime(2026, 1, 2, 10)),
                started_at=datetime(2026, 1, 2, 10),
                user_name="bob",
                key_prefix="og_bob45678",
                endpoint="/api/generate",
                model=None,
                status=None,
                error="upstream stream failed: ReadTimeout",
                disconnected=True,
                mode="metadata",
                user_agent="'already quoted",
            ),
            Request(
                id=new_id(datetime(2026, 1, 3, 9)),
                started_at=datetime(2026, 1, 3, 9),
                user_name="alice",
                key_prefix="og_alice123",
                endpoint="/api/embed",
                model="nomic-embed-text",
                status=200,
                cache_hit=True,
                prompt_text="",
                answer_text="",
            ),
        ]
        db.session.add_all(rows)
        db.session.commit()
        return [r.to_dict() for r in rows]


def fresh_app(tmp_path, name: str, fake):
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / name}",
            "BACKENDS": [fake.url],
        }
    )
    with app.app_context():
        db.create_all()
    return app


def all_records(app) -> list[dict]:
    with app.app_context():
        rows = db.session.execute(select(Request).order_by(Request.id)).scalars()
        return [r.to_dict() for r in rows]


def without_local_ids(records: list[dict]) -> list[dict]:
    return [
        {k: v for k, v in r.items() if k not in ("user_id", "key_id")} for r in records
    ]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_import_round_trip_and_idempotent(app, runner, tmp_path, fake, fmt):
    original = make_records(app)
    out = runner.invoke(args=["history", "export", "--format", fmt])
    assert out.exit_code == 0, out.output
    path = tmp_path / f"export.{fmt}"
    path.write_text(out.output, encoding="utf-8")
    other = fresh_app(tmp_path, "other.db", fake)
    add_key(other, "alice")  # a local alice: imported records link to her
    cli = other.test_cli_runner()
    first = cli.invoke(args=["history", "import", str(path)])
    assert first.exit_code == 0 and "imported 3 records, skipped 0" in first.output
    second = cli.invoke(args=["history", "import", str(path)])
    assert "imported 0 records, skipped 3" in second.output
    merged = all_records(other)
    assert without_local_ids(merged) == without_local_ids(
        sorted(original, key=lambda r: r["id"])
    )
    alice_local = [r["user_id"] for r in merged if r["user_name"] == "alice"]
    assert alice_local[0] is not None and all(u == alice_local[0] for u in alice_local)
    assert [r["user_id"] for r in merged if r["user_name"] == "bob"] == [None]


def test_import_merges_two_gateways(app, runner, tmp_path, fake):
    make_records(app)
    other = fresh_app(tmp_path, "other.db", fake)
    with other.app_context():
        db.session.add(
            Request(id=new_id(), started_at=datetime(2026, 2, 1), user_name="x")
        )
        db.session.commit()
    path = tmp_path / "mine.jsonl"
    path.write_text(runner.invoke(args=["history", "export"]).output)
    assert (
        "imported 3"
        in other.test_cli_runner().invoke(args=["history", "import", str(path)]).output
    )
    assert len(all_records(other)) == 4


def test_export_filters(app, runner):
    make_records(app)
    out = runner.invoke(
        args=["history", "export", "--user", "alice", "--model", "nomic-embed-text"]
    )
    assert [json.loads(line)["endpoint"] for line in out.output.splitlines()] == [
        "/api/embed"
    ]
    out = runner.invoke(
        args=["history", "export", "--since", "2026-01-02", "--until", "2026-01-02"]
    )
    assert [json.loads(line)["user_name"] for line in out.output.splitlines()] == [
        "bob"
    ]
    out = runner.invoke(args=["history", "export", "--q", "sum(a1)"])
    assert len(out.output.splitlines()) == 1
    bad = runner.invoke(args=["history", "export", "--since", "soon"])
    assert bad.exit_code != 0 and "not a date" in bad.output


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"id": "../../etc", "started_at": "2026-01-01T00:00:00"}\n', "malformed id"),
        ('{"id": "01ABC", "started_at": "yesterday"}\n', "line 1"),
        ("not json\n", "line 1"),
        ('{"id": "01ABC"}\n', "missing started_at"),
        ('{"id": "01ABC", "started_at": "2026-01-01", "status": 1e400}', "line 1"),
        ('{"id": "01ABC", "started_at": "2026-01-01", "status": 99999999999}', "range"),
        ('{"id": "01ABC", "started_at": "0001-01-01T00:00:00+05:00"}\n', "line 1"),
    ],
)
def test_import_refuses_bad_files_cleanly(app, runner, tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    out = runner.invoke(args=["history", "import", str(path)])
    assert out.exit_code == 1 and message in out.output
    assert all_records(app) == []


def test_import_times_to_utc_text_cleaned_and_excel_bom(app, runner, tmp_path):
    """Offsets become naive UTC; NUL and lone surrogates U+FFFD; a BOM is no header."""
    jsonl = tmp_path / "other.jsonl"
    jsonl.write_text(
        '{"id": "01ABC", "started_at": "2026-01-01T05:30:00+05:00",'
        ' "user_name": "a\\u0000b", "prompt_text": "half \\ud83d"}\n'
    )
    out = runner.invoke(args=["history", "import", str(jsonl)])
    assert out.exit_code == 0, out.output
    csv_file = tmp_path / "excel.csv"
    csv_file.write_bytes(b"\xef\xbb\xbfid,started_at\n01ABD,2026-01-02T00:00:00\n")
    out = runner.invoke(args=["history", "import", str(csv_file)])
    assert out.exit_code == 0, out.output
    rows = all_records(app)
    assert [(r["id"], r["started_at"]) for r in rows] == [
        ("01ABC", "2026-01-01T00:30:00"),
        ("01ABD", "2026-01-02T00:00:00"),
    ]
    assert rows[0]["user_name"] == "a\ufffdb"
    assert rows[0]["prompt_text"] == "half \ufffd"


def test_purge_deletes_exactly_the_older_records(app, runner):
    make_records(app)  # 2026-01-01 10:00, 2026-01-02 10:00, 2026-01-03 09:00
    out = runner.invoke(args=["history", "purge", "--before", "2026-01-02"])
    assert out.exit_code == 0 and "deleted 1 records" in out.output
    assert [r["user_name"] for r in all_records(app)] == ["bob", "alice"]
    out = runner.invoke(args=["history", "purge", "--before", "2026-01-03T09:00:00"])
    assert "deleted 1 records" in out.output
    assert [r["endpoint"] for r in all_records(app)] == ["/api/embed"]
    assert runner.invoke(args=["history", "purge", "--before", "never"]).exit_code == 2


@pytest.mark.parametrize(
    "before", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-01:00", "", " "]
)
def test_purge_refuses_dates_out_of_range(app, runner, before):
    """A date that overflows on conversion to UTC is a usage error, not a traceback."""
    make_records(app)
    out = runner.invoke(args=["history", "purge", "--before", before])
    assert out.exit_code == 2 and "not a date" in out.output
    assert len(all_records(app)) == 3


def test_retention_purge_runs_from_the_recorder(tmp_path, fake):
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'r.db'}",
            "BACKENDS": [fake.url],
            "HISTORY_RETENTION_DAYS": 30,
            "KEY_CACHE_SECONDS": 0.0,
        }
    )
    with app.app_context():
        db.create_all()
    make_records(app)  # all from January 2026: older than 30 days
    key = add_key(app)
    app.test_client().post(
        "/api/generate",
        json={"model": "llama3.2", "prompt": "hi"},
        headers={"Authorization": f"Bearer {key}"},
    ).get_data()
    app.extensions["ollama_gate"].recorder.flush()
    assert [r["endpoint"] for r in all_records(app)] == ["/api/generate"]


def test_key_history_mode_command(app, runner, key):
    assert runner.invoke(args=["history", "mode", key[:11], "metadata"]).exit_code == 0
    with app.app_context():
        assert (
            db.session.execute(select(ApiKey.history_mode)).scalar_one() == "metadata"
        )
    runner.invoke(args=["history", "mode", key[:11], "default"])
    with app.app_context():
        assert db.session.execute(select(ApiKey.history_mode)).scalar_one() is None
        assert (
            db.session.execute(select(func.count()).select_from(Request)).scalar() == 0
        )
    assert runner.invoke(args=["history", "mode", key[:11], "loud"]).exit_code == 2
