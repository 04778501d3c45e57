"""CSV export cells: every one quoted, no formula start a spreadsheet could run."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime

import pytest
from sqlalchemy import select

from ollama_gate.extensions import db
from ollama_gate.history.models import Request, new_id

# text that is harmless at its first character but holds a formula after a
# newline or a separator, which is where a spreadsheet (or a misread file) starts a cell
HOSTILE = [
    "a\n=cmd|' /C calc'!A0",
    "x;=1+1",
    'x,=HYPERLINK("http://evil.example")',
    "a\r\n@SUM(A1)",
    "a\r+1",
    "one\t-2+3",
    "pipe|=1",
    'x; "=1',
    "x,  =1",
    "a\n\t=1",
    "a\n'=1",
    "a\n''=1",
    "'",
    "a,'",
    "plain text, it's fine; -- really",
]
FORMULA = tuple("=+-@")
# where spreadsheets split a line into cells, honouring quotes or not
SPLIT = re.compile(r"[,;\t\r\n|]")


def seed(app, texts: list[str]) -> list[dict]:
    """One record per text, in prompt, answer, user agent and request JSON."""
    with app.app_context():
        for n, text in enumerate(texts):
            started = datetime(2026, 1, 1, 10, n % 60)
            db.session.add(
                Request(
                    id=new_id(started),
                    started_at=started,
                    user_name="alice",
                    endpoint="/api/chat",
                    prompt_text=text,
                    answer_text=text,
                    user_agent=text,
                    request={"messages": [{"role": "user", "content": text}]},
                )
            )
        db.session.commit()
        rows = db.session.execute(select(Request).order_by(Request.id)).scalars()
        return [r.to_dict() for r in rows]


def export_csv(runner) -> str:
    out = runner.invoke(args=["history", "export", "--format", "csv"])
    assert out.exit_code == 0, out.output
    return out.stdout_bytes.decode()  # ``output`` turns CR LF into LF


def test_every_cell_is_quoted(app, runner):
    seed(app, HOSTILE)
    raw = export_csv(runner)
    rows = list(csv.reader(io.StringIO(raw, newline="")))
    again = io.StringIO()
    csv.writer(again, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows)
    assert raw == again.getvalue()
    assert raw.startswith('"id","started_at",')


@pytest.mark.parametrize("text", HOSTILE)
def test_no_formula_start_after_any_separator(app, runner, text):
    seed(app, [text])
    raw = export_csv(runner)
    # read as a spreadsheet might: split on any separator, quotes ignored
    pieces = [piece.lstrip(' "') for piece in SPLIT.split(raw)]
    assert not [p for p in pieces if p.startswith(FORMULA)]
    # and as a careful reader does: the same inside each cell
    for row in csv.reader(io.StringIO(raw, newline="")):
        for cell in row:
            inner = [p.lstrip(' "') for p in SPLIT.split(cell)]
            assert not [p for p in inner if p.startswith(FORMULA)], cell


def test_hostile_cells_round_trip_exactly(app, runner, tmp_path):
    original = seed(app, HOSTILE)
    path = tmp_path / "export.csv"
    path.write_text(export_csv(runner), encoding="utf-8", newline="")
    with app.app_context():
        db.session.execute(db.delete(Request))
        db.session.commit()
    out = runner.invoke(args=["history", "import", str(path)])
    assert out.exit_code == 0, out.output
    assert f"imported {len(HOSTILE)} records" in out.output
    with app.app_context():
        rows = db.session.execute(select(Request).order_by(Request.id)).scalars()
        assert [r.to_dict() for r in rows] == original
