"""Long records are read in pages: the call's page stays small, the rest is plain text
a page at a time (issue 16: one record's page weighed 140 MB)."""

from __future__ import annotations

from ollama_gate.extensions import db
from ollama_gate.history.models import Request
from ollama_gate.history.paging import PAGE_CHARS
from tests.history.test_views import admin, chat  # noqa: F401  (fixture)


def only_record(app):
    app.extensions["ollama_gate"].recorder.flush()
    with app.app_context():
        return db.session.execute(db.select(Request)).scalar_one()


def test_a_long_record_is_shown_a_page_at_a_time(app, admin, key):  # noqa: F811
    prompt = "<b>x</b>" + "abcdefghij" * 30_000  # 300,008 characters, with markup
    chat(admin, key, prompt)
    row = only_record(app)
    page = admin.get(f"/history/{row.id}")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert len(body) < 3 * PAGE_CHARS + 50_000  # not the whole record
    assert "of 300,008 characters" in body and "<b>x</b>" not in body  # escaped
    parts = []
    for n in (1, 2, 3, 4):
        part = admin.get(f"/history/{row.id}/prompt.txt?page={n}")
        assert part.status_code == 200 and part.mimetype == "text/plain"
        assert part.headers["X-Content-Type-Options"] == "nosniff"
        assert part.headers["X-Page"] == f"{n} of 4"
        parts.append(part.get_data(as_text=True))
    assert "".join(parts) == prompt
    assert admin.get(f"/history/{row.id}/prompt.txt?page=5").status_code == 404
    request_part = admin.get(f"/history/{row.id}/request.txt").get_data(as_text=True)
    assert request_part.startswith("{") and len(request_part) == PAGE_CHARS


def test_parts_need_a_login_and_a_real_record(app, client, admin, key):  # noqa: F811
    chat(admin, key, "short")
    row = only_record(app)
    assert app.test_client().get(f"/history/{row.id}/answer.txt").status_code == 302
    assert admin.get("/history/nope/answer.txt").status_code == 404
    assert admin.get(f"/history/{row.id}/answer.txt?page=x").status_code == 404
    assert admin.get(f"/history/{row.id}/secret.txt").status_code == 404
