"""Finding things: all keys across users, sorting, key links, audit filters, search
hits in history."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from markupsafe import Markup

from ollama_gate.audit import record
from ollama_gate.extensions import db
from ollama_gate.history.highlight import snippet
from ollama_gate.limits.usage import Usage, day_period
from ollama_gate.models import ApiKey, utcnow
from tests.helpers.admin import login, make_admin
from tests.helpers.keys import add_key


@pytest.fixture()
def admin(app, client):
    """A logged-in admin ``root``; returns the client."""
    make_admin(app)
    assert login(client).status_code == 302
    return client


def prefixes(html: str) -> list[str]:
    """The key prefixes listed on the all-keys page, in order."""
    table = html.split('id="all-keys"', 1)[1] if 'id="all-keys"' in html else ""
    return re.findall(r"<code>([^<]+)…</code>", table)


@pytest.fixture()
def keys(app):
    """Three keys of two users, one revoked, one disabled, with use today."""
    a = add_key(app, "alice", name="laptop")
    b = add_key(app, "alice", name="phone", disabled=True)
    c = add_key(app, "bob", name="ci runner", revoked_at=datetime(2026, 1, 1))
    with app.app_context():
        ids = {k.prefix: k.id for k in db.session.execute(db.select(ApiKey)).scalars()}
        today = day_period(utcnow())
        db.session.add(Usage(key_id=ids[b[:11]], period=today, calls=9, tokens=1))
        db.session.add(Usage(key_id=ids[a[:11]], period=today, calls=3, tokens=1))
        db.session.commit()
    return a[:11], b[:11], c[:11], ids


def test_all_keys_search_by_prefix_name_or_user(admin, keys):
    a, b, c, _ = keys
    html = admin.get("/admin/keys").text
    assert set(prefixes(html)) == {a, b, c} and "Keys</a>" in html  # in the menu
    assert prefixes(admin.get(f"/admin/keys?q={a[:9]}").text) == [a]
    assert prefixes(admin.get("/admin/keys?q=PHON").text) == [b]
    assert set(prefixes(admin.get("/admin/keys?q=bob").text)) == {c}
    assert "No key matches" in admin.get("/admin/keys?q=%25").text  # LIKE escaped


def test_all_keys_filter_by_state_and_sort_by_use_today(admin, keys):
    a, b, c, _ = keys
    assert prefixes(admin.get("/admin/keys?state=revoked").text) == [c]
    assert prefixes(admin.get("/admin/keys?state=disabled").text) == [b]
    assert prefixes(admin.get("/admin/keys?state=active").text) == [a]
    assert prefixes(admin.get("/admin/keys?sort=-today").text) == [b, a, c]
    assert prefixes(admin.get("/admin/keys?sort=today").text)[-1] == b
    assert admin.get("/admin/keys?sort=-today&state=bogus&page=99").status_code == 200
    assert prefixes(admin.get("/admin/keys?sort=nonsense").text) == [c, b, a]


def test_rotating_key_is_its_own_state(app, admin, keys):
    a, _, _, ids = keys
    with app.app_context():
        db.session.get(ApiKey, ids[a]).revoke_at = utcnow() + timedelta(hours=1)
        db.session.commit()
    assert prefixes(admin.get("/admin/keys?state=rotating").text) == [a]
    assert prefixes(admin.get("/admin/keys?state=active").text) == [a]
    with app.app_context():
        db.session.get(ApiKey, ids[a]).revoke_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    assert a in prefixes(admin.get("/admin/keys?state=revoked").text)


def test_prefix_link_leads_to_the_key(admin, keys):
    a, _, _, ids = keys
    resp = admin.get(f"/admin/keys/prefix/{a}")
    assert (
        resp.status_code == 302 and resp.headers["Location"] == f"/admin/keys/{ids[a]}"
    )
    resp = admin.get("/admin/keys/prefix/og_nothere")
    assert resp.headers["Location"].startswith("/admin/keys?q=og_nothere")


def test_users_sort_and_audit_links_and_filters(app, admin, keys):
    a, *_ = keys
    html = admin.get("/admin/users?sort=-keys").text
    assert html.index(">alice<") < html.index(">bob<")
    html = admin.get("/admin/users?sort=name").text
    assert html.index(">alice<") < html.index(">bob<")
    html = admin.get("/admin/users?sort=-name").text
    assert html.index(">bob<") < html.index(">alice<")
    with app.app_context():
        record("key_revoked", f"{a} (alice)", "<b>x</b>", admin_name="cli")
        db.session.commit()
    html = admin.get("/admin/audit").text
    assert f'<a href="/admin/keys/prefix/{a}"><code>{a}</code></a> (alice)' in html
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html
    HIT = '<td data-label="Action">Key revoked</td>'
    assert HIT in admin.get("/admin/audit?admin=cli").text
    assert HIT not in admin.get("/admin/audit?admin=root").text
    assert HIT in admin.get("/admin/audit?target=alice").text
    assert HIT not in admin.get("/admin/audit?target=bob").text
    today = utcnow().date()
    assert HIT in admin.get(f"/admin/audit?since={today}").text
    yesterday = today - timedelta(days=1)
    assert HIT not in admin.get(f"/admin/audit?until={yesterday}").text
    assert admin.get("/admin/audit?since=not-a-date&sort=zzz").status_code == 200


def test_snippet_marks_hits_and_escapes_the_rest():
    text = "<b>hi</b> " + "x" * 300 + " the Needle <script>"
    out = snippet(text, "needle")
    assert isinstance(out, Markup) and "<mark>Needle</mark>" in out
    assert out.startswith("…") and "&lt;script&gt;" in out and "<script>" not in out
    assert snippet("<i>a</i>", "") == "&lt;i&gt;a&lt;/i&gt;"
    assert snippet("a<b", "<") == "a<mark>&lt;</mark>b"
