"""The limits in the admin UI: set on key creation and on the key page, usage shown."""

from __future__ import annotations

import re

import pytest

from ollama_gate.audit import AuditLog
from ollama_gate.extensions import db
from ollama_gate.models import ApiKey
from tests.helpers.admin import login, make_admin, post

KEY_RE = re.compile(r'<code id="new-key">(og_[A-Za-z0-9_-]+)</code>')
CHAT = {
    "model": "llama3.2",
    "messages": [{"role": "user", "content": "Hi"}],
    "stream": False,
}


@pytest.fixture()
def admin(app, client):
    """A logged-in admin with one user ``alice``; returns (client, alice's page)."""
    make_admin(app)
    assert login(client).status_code == 302
    resp = post(client, "/admin/users", {"name": "alice"})
    return client, resp.headers["Location"].replace("http://localhost", "")


def key_row(app, key_id: int) -> ApiKey:
    with app.app_context():
        row = db.session.get(ApiKey, key_id)
        db.session.expunge(row)
        return row


def test_create_key_with_limits_and_use_it(app, admin, fake):
    client, page = admin
    resp = post(
        client,
        f"{page}/keys",
        {
            "name": "bot",
            "rate_limit": "5/minute",
            "calls_per_day": "2",
            "tokens_per_month": "100000",
            "models": "llama3*\nqwen2.5:7b",
            "manage": "y",
            "max_concurrency": "1",
        },
        page,
    )
    assert resp.status_code == 303, resp.get_data(as_text=True)
    html = client.get(resp.headers["Location"]).get_data(as_text=True)
    plain = KEY_RE.search(html).group(1)
    key_id = int(re.search(r'href="/admin/keys/(\d+)"', html).group(1))
    row = key_row(app, key_id)
    assert (
        row.rate_limit,
        row.calls_per_day,
        row.tokens_per_day,
        row.tokens_per_month,
        row.model_allowlist,
        row.scopes,
        row.max_concurrency,
    ) == ("5/minute", 2, None, 100000, "llama3*,qwen2.5:7b", "manage", 1)
    h = {"Authorization": f"Bearer {plain}"}
    codes = [
        client.post("/api/chat", json=CHAT, headers=h).status_code for _ in range(3)
    ]
    assert codes == [200, 200, 429]  # the daily call quota
    app.extensions["ollama_gate"].recorder.flush()
    page_html = client.get(f"/admin/keys/{key_id}").get_data(as_text=True)
    usage = page_html[page_html.index('id="limits"') :]
    today = usage[
        usage.index('id="usage-d"') : usage.index("</tr>", usage.index('id="usage-d"'))
    ]
    assert "2 of 2" in today and "used up" in today
    month = usage[usage.index('id="usage-m"') :]
    assert re.search(r"\d+ of 100,000", month)
    assert (
        "5/minute" in usage and "llama3*,qwen2.5:7b" in usage and "at most 1" in usage
    )
    assert 'value="5/minute"' in page_html  # the settings form shows the current values


def test_key_page_changes_and_clears_limits(app, admin):
    client, page = admin
    resp = post(
        client,
        f"{page}/keys",
        {"name": "k", "calls_per_day": "3", "models": "llama3*"},
        page,
    )
    key_id = int(re.search(r"/admin/keys/(\d+)/created", resp.headers["Location"])[1])
    key_page = f"/admin/keys/{key_id}"
    resp = post(
        client,
        key_page,
        {
            "name": "k",
            "calls_per_day": "",
            "models": "",
            "rate_limit": "unlimited",
            "tokens_per_day": "50",
        },
        key_page,
    )
    assert resp.status_code == 302
    row = key_row(app, key_id)
    assert (
        row.calls_per_day,
        row.model_allowlist,
        row.rate_limit,
        row.tokens_per_day,
        row.scopes,
    ) == (None, None, "unlimited", 50, "")
    with app.app_context():
        audit = db.session.execute(
            db.select(AuditLog).where(AuditLog.action == "key_updated")
        ).scalar_one()
        assert (
            "tokens_per_day: none → 50" in audit.detail
            and "calls_per_day: 3 → none" in audit.detail
        )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("rate_limit", "fast please"),
        ("calls_per_day", "-1"),
        ("max_concurrency", "two"),
        ("tokens_per_month", "99999999999999999999999"),  # past INTEGER: a 500 before
        ("calls_per_day", "2147483648"),
    ],
)
def test_bad_limits_are_refused_with_a_message(app, admin, field, value):
    client, page = admin
    resp = post(client, f"{page}/keys", {"name": "k", field: value}, page)
    assert resp.status_code == 400
    assert '<ul class="errors">' in resp.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(db.select(ApiKey)).first() is None
