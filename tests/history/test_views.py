"""History pages: login, filters, search, pages, conversation, export, dashboard."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from ollama_gate.extensions import db
from ollama_gate.history.models import Request, new_id
from ollama_gate.models import utcnow
from tests.helpers.admin import login, make_admin
from tests.helpers.keys import add_key

EVIL = '<script>alert("x")</script><b>bold</b> & <img src=x onerror=alert(1)>'


def seed(app, n: int = 1, **fields) -> list[str]:
    """Insert ``n`` records directly; return their ids."""
    ids = []
    with app.app_context():
        for i in range(n):
            when = fields.pop("started_at", None) or utcnow() - timedelta(minutes=i)
            values = dict(
                user_name="alice",
                key_prefix="og_aaaaaaaa",
                endpoint="/api/chat",
                model="llama3.2",
                status=200,
                prompt_tokens=3,
                completion_tokens=5,
                total_tokens=8,
                ttfb_ms=10.0 + i,
                total_ms=50.0,
                completed=True,
                prompt_text=f"question {i}",
                answer_text=f"answer {i}",
            )
            rec = Request(id=new_id(when), started_at=when, **(values | fields))
            db.session.add(rec)
            ids.append(rec.id)
        db.session.commit()
    return ids


@pytest.fixture()
def admin(app, client):
    """``client`` logged in as an admin."""
    make_admin(app)
    assert login(client).status_code == 302
    return client


def chat(client, key, content, **extra):
    body = {
        "model": "llama3.2",
        "stream": True,
        "messages": [{"role": "user", "content": content}],
        **extra,
    }
    resp = client.post(
        "/api/chat", json=body, headers={"Authorization": f"Bearer {key}"}
    )
    resp.get_data()
    resp.close()


@pytest.mark.parametrize(
    "path",
    [
        "/history/",
        "/history/dashboard",
        "/history/export.csv",
        "/history/01ARZ3NDEKTSV4RRFFQ69G5FAV",
    ],
)
def test_pages_need_an_admin_login(client, path):
    resp = client.get(path)
    assert resp.status_code == 302 and "/admin/login" in resp.headers["Location"]


def test_list_filters_search_and_pages(app, admin):
    seed(app, 60)
    seed(
        app,
        1,
        user_name="bob",
        model="qwen2.5:7b",
        status=500,
        error="boom",
        prompt_text="needle in prompt",
    )
    page1 = admin.get("/history/").get_data(as_text=True)
    assert "61 calls" in page1 and "Page 1 of 2" in page1
    page2 = admin.get("/history/?page=2").get_data(as_text=True)
    assert page2.count("question ") == 11
    only_bob = admin.get("/history/?user=bob").get_data(as_text=True)
    assert "1 call." in only_bob and "needle in prompt" in only_bob
    assert "1 call." in admin.get("/history/?q=NEEDLE").get_data(as_text=True)
    assert "1 call." in admin.get("/history/?status=error").get_data(as_text=True)
    assert "60 calls" in admin.get("/history/?status=ok").get_data(as_text=True)
    assert "1 call." in admin.get("/history/?model=qwen2.5:7b").get_data(as_text=True)
    assert "0 calls" in admin.get("/history/?until=2001-01-01").get_data(as_text=True)
    assert "61 calls" in admin.get("/history/?since=2001-01-01&key=og_a").get_data(
        as_text=True
    )


@pytest.mark.parametrize("query", ["status=maybe", "since=yesterday", "q=" + "x" * 300])
def test_bad_filters_are_400(admin, query):
    assert admin.get("/history/?" + query).status_code == 400


def test_conversation_view_escapes_everything(app, admin, key):
    chat(admin, key, EVIL, options={"num_predict": 2})
    app.extensions["ollama_gate"].recorder.flush()
    with app.app_context():
        rec_id = db.session.execute(select(Request.id)).scalar_one()
    for path in ("/history/", f"/history/{rec_id}"):
        resp = admin.get(path)
        html = resp.get_data(as_text=True)
        assert (
            resp.status_code == 200
            and "script-src 'self'" in resp.headers["Content-Security-Policy"]
        )
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(" in html
    detail = admin.get(f"/history/{rec_id}").get_data(as_text=True)
    assert (
        'class="turn role-user"' in detail and 'class="turn role-assistant"' in detail
    )
    assert "The quick" in detail
    assert admin.get("/history/NOSUCHID").status_code == 404


def test_browser_export_follows_filters(app, admin):
    seed(app, 3)
    seed(app, 1, user_name="bob", prompt_text='=cmd|"/c calc"!A1')
    lines = (
        admin.get("/history/export.jsonl?user=bob").get_data(as_text=True).splitlines()
    )
    assert [json.loads(line)["user_name"] for line in lines] == ["bob"]
    resp = admin.get("/history/export.csv")
    assert (
        resp.mimetype == "text/csv"
        and "attachment" in resp.headers["Content-Disposition"]
    )
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert len(rows) == 4
    bob = next(r for r in rows if r["user_name"] == "bob")
    assert bob["prompt_text"].startswith("'=")  # a spreadsheet does not run it


def test_dashboard_counts_and_charts(app, admin):
    seed(app, 4)
    seed(app, 1, user_name="bob", model=EVIL, status=502, error="upstream down")
    resp = admin.get("/history/dashboard?range=24h")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "<strong>5</strong> calls" in html and "<strong>40</strong> tokens" in html
    assert "error rate 20.0%" in html
    assert html.count("<svg") >= 8 and "<script>alert" not in html
    assert "&lt;script&gt;" in html  # the model name, escaped in chart labels
    assert "streamed" in html or "whole" in html
    assert admin.get("/history/dashboard?range=7d&unit=day").status_code == 200
    assert admin.get("/history/dashboard?range=forever").status_code == 400


def test_dashboard_empty(admin):
    html = admin.get("/history/dashboard").get_data(as_text=True)
    assert "No calls in this range" in html and "<strong>0</strong> calls" in html


def test_key_in_list_links_and_other_users_filter(app, admin):
    other = add_key(app, "carol")
    chat(admin, other, "hello from carol", options={"num_predict": 1})
    app.extensions["ollama_gate"].recorder.flush()
    html = admin.get("/history/?user=carol").get_data(as_text=True)
    assert "hello from carol" in html and other[:11] in html and other not in html


@pytest.mark.needs_postgres
def test_pages_dashboard_and_import_on_postgresql(postgres_url, fake, tmp_path):
    from ollama_gate import create_app

    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": postgres_url,
            "SECRET_KEY": "pg",
            "BACKENDS": [fake.url],
        }
    )
    with app.app_context():
        db.create_all()
    try:
        ids = seed(app, 30)
        seed(
            app,
            1,
            user_name="bob",
            status=404,
            error="model 'x' not found",
            prompt_text="Find 100% of THIS_one",
            started_at=utcnow() - timedelta(days=3),
        )
        client = app.test_client()
        make_admin(app)
        login(client)
        for query in ("range=24h", "range=7d&unit=hour", "range=30d&unit=day"):
            html = client.get(f"/history/dashboard?{query}").get_data(as_text=True)
            assert "<svg" in html
        assert "<strong>30</strong> calls" in client.get("/history/dashboard").get_data(
            as_text=True
        )
        assert "<strong>31</strong> calls" in client.get(
            "/history/dashboard?range=7d&unit=day"
        ).get_data(as_text=True)
        # LIKE wildcards in the search text are literal
        assert "1 call." in client.get("/history/?q=100%25 of this_ONE").get_data(
            as_text=True
        )
        assert "0 calls" in client.get("/history/?q=100%25 of thisXone").get_data(
            as_text=True
        )
        assert "1 call." in client.get("/history/?status=404").get_data(as_text=True)
        exported = client.get("/history/export.jsonl").get_data(as_text=True)
        path = tmp_path / "pg.jsonl"
        path.write_text(exported)
        out = app.test_cli_runner().invoke(args=["history", "import", str(path)])
        assert "imported 0 records, skipped 31" in out.output
        assert client.get(f"/history/{ids[0]}").status_code == 200
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.mark.parametrize(
    "query",
    [
        "status=99999999999999999999",
        "since=9999-12-31x",
        "until=9999-12-31",
        "user=a%00b",
        "status=20",
        "status=%C2%B2%C2%B2%C2%B2",  # Unicode digits: isdigit() yes, int() no
    ],
)
def test_extreme_filters_are_400_not_500(admin, query):
    assert admin.get("/history/?" + query).status_code == 400


def test_page_beyond_the_end_shows_the_last(app, admin):
    seed(app, 3)
    html = admin.get("/history/?page=99999999999999999999").get_data(as_text=True)
    assert "Page" not in html and "question 2" in html
    assert "question 0" in admin.get("/history/?page=7").get_data(as_text=True)


@pytest.mark.parametrize("page", ["%C2%B2", "%D9%A3", "-1", "%00", "1e3", "%EF%BC%91"])
def test_odd_page_numbers_show_the_first_page(app, admin, page):
    """Unicode digits pass str.isdigit() but not int(): the first page, never a 500."""
    seed(app, 3)
    resp = admin.get("/history/?page=" + page)
    assert resp.status_code == 200 and "question 2" in resp.get_data(as_text=True)


@pytest.mark.parametrize("endpoint", ["/api/chat", "/v1/chat/completions", "'<x>&"])
def test_filter_by_endpoint_lists_and_links(app, admin, endpoint):
    """``endpoint`` is also url_for's own argument: the links once made this a 500."""
    seed(app, 60, endpoint=endpoint)
    resp = admin.get("/history/", query_string={"endpoint": endpoint})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "question 0" in html
    query = urlencode({"endpoint": endpoint}).replace("&", "&amp;")
    assert f'href="/history/export.csv?{query}"' in html
    assert f'href="/history/?{query}&amp;page=2"' in html
    export = admin.get(f"/history/export.jsonl?{urlencode({'endpoint': endpoint})}")
    assert export.status_code == 200 and export.get_data().count(b"\n") == 60


@pytest.mark.parametrize("mode", ["full", "metadata"])
def test_lone_surrogates_in_a_request_render_and_export(app, admin, client, mode):
    """ "\\ud800" in a request's JSON: the detail page and exports still work."""
    key = add_key(app, history_mode=mode)
    raw = (
        rb'{"model": "llama3.2", "stream": false, "\ud800": "\udfff",'
        rb' "options": {"stop": ["\ud83d"]}, "messages": [{"role": "user",'
        rb' "content": "half \ud83d emoji"}]}'
    )
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    assert client.post("/api/chat", data=raw, headers=headers).status_code == 200
    app.extensions["ollama_gate"].recorder.flush()
    with app.app_context():
        rec_id = db.session.execute(db.select(Request.id)).scalar_one()
    detail = admin.get(f"/history/{rec_id}")
    assert detail.status_code == 200 and "\ufffd" in detail.get_data(as_text=True)
    for fmt in ("jsonl", "csv"):
        export = admin.get(f"/history/export.{fmt}")
        assert export.status_code == 200 and export.get_data().decode("utf-8")
