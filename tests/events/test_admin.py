"""The events' commands and admin page: webhooks added (secret shown once, URL
checked), listed without secrets, tested with a signed delivery, deleted, all
audited; the page shows messages as text and its forms need a CSRF token."""

from __future__ import annotations

import re

import pytest

from ollama_gate.audit import AuditLog
from ollama_gate.events import emit
from ollama_gate.events.models import Hook
from ollama_gate.extensions import db
from tests.events.test_events import check_signed, events_of
from tests.helpers.admin import post
from tests.helpers.webhook_receiver import Receiver


def audit(app) -> list[str]:
    with app.app_context():
        query = db.select(AuditLog.action).order_by(AuditLog.id)
        return list(db.session.execute(query).scalars())


def test_hooks_add_shows_a_made_secret_once_and_list_never(app, runner, receiver):
    out = runner.invoke(args=["hooks", "add", receiver.url, "--events", "backend.*"])
    assert out.exit_code == 0, out.output
    secret = re.search(r"secret: (whsec_\S+)", out.output).group(1)
    listed = runner.invoke(args=["hooks", "list"]).output
    assert receiver.url in listed and "backend.*" in listed
    assert secret not in listed
    test = runner.invoke(args=["hooks", "test", "1"])
    assert test.exit_code == 0 and "delivered: 200" in test.output
    check_signed(receiver.received[0], secret)
    assert receiver.received[0]["json"]["kind"] == "test"
    assert runner.invoke(args=["hooks", "delete", "1"]).exit_code == 0
    assert "no webhooks" in runner.invoke(args=["hooks", "list"]).output
    assert audit(app) == ["hook_added", "hook_tested", "hook_deleted"]
    with app.app_context():
        details = db.session.execute(db.select(AuditLog.detail)).scalars()
        assert not any(secret in d or "/hook" in d for d in details)


def test_a_given_secret_is_not_echoed(runner, receiver):
    out = runner.invoke(
        args=["hooks", "add", receiver.url, "--secret", "-"],
        input="a-secret-of-my-own-choosing\n",
    )
    assert out.exit_code == 0 and "a-secret-of-my-own" not in out.output


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "http://",
        "example.com/hook",
        "http://example.com/a b",
        "http://example.com:99999/",
    ],
)
def test_hooks_add_refuses_what_is_not_an_http_url(app, runner, url):
    out = runner.invoke(args=["hooks", "add", url])
    assert out.exit_code != 0 and "Error" in out.output
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Hook)) == 0


def test_hooks_add_refuses_an_unknown_kind_and_a_short_secret(runner, receiver):
    out = runner.invoke(args=["hooks", "add", receiver.url, "--events", "backend.dwn"])
    assert out.exit_code != 0 and "unknown event kind" in out.output
    out = runner.invoke(args=["hooks", "add", receiver.url, "--secret", "short"])
    assert out.exit_code != 0 and "at least 16" in out.output


def test_hooks_test_says_when_it_failed(runner):
    failing = Receiver(statuses=(500,))
    try:
        runner.invoke(args=["hooks", "add", failing.url])
        out = runner.invoke(args=["hooks", "test", "1"])
        assert out.exit_code != 0 and "not delivered: 500" in out.output
    finally:
        failing.close()
    assert runner.invoke(args=["hooks", "test", "7"]).exit_code != 0


def test_events_list_by_kind_with_deliveries(app, runner, receiver):
    events = events_of(app)
    runner.invoke(args=["hooks", "add", receiver.url])
    emit("backend.down", "backend:gpu1", "gpu1 is down", app=app)
    emit("queue.wait", "model:x", "slow\x1b[2J", app=app)
    events.run_once()
    out = runner.invoke(args=["events", "list", "--kind", "backend.down"]).output
    assert "gpu1 is down" in out and "webhook 1 attempt 1: 200" in out
    assert "slow" not in out
    every = runner.invoke(args=["events", "list", "--limit", "5"]).output
    assert "slow\\x1b[2J" in every  # an escape sequence never reaches the terminal


def test_the_page_shows_messages_as_text(app, admin_client):
    events = events_of(app)
    emit("backend.down", "backend:<i>x</i>", "<script>alert(1)</script>", app=app)
    events.run_once()
    html = admin_client.get("/admin/events/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;i&gt;x&lt;/i&gt;" in html
    assert 'href="/admin/events/"' in html  # in the nav
    only = admin_client.get("/admin/events/?kind=queue.wait").get_data(as_text=True)
    assert "alert(1)" not in only


def test_the_page_needs_a_login(client):
    resp = client.get("/admin/events/")
    assert resp.status_code == 302 and "/admin/login" in resp.headers["Location"]


def test_adding_a_hook_needs_csrf_and_shows_its_secret_once(
    app, admin_client, receiver
):
    resp = admin_client.post("/admin/events/hooks", data={"url": receiver.url})
    assert resp.status_code == 400
    resp = post(
        admin_client,
        "/admin/events/hooks",
        {"url": receiver.url},
        form_page="/admin/events/",
    )
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    secret = re.search(r'id="hook-secret">(whsec_[^<]+)<', html).group(1)
    page = admin_client.get("/admin/events/").get_data(as_text=True)
    assert receiver.url in page and secret not in page
    bad = post(
        admin_client,
        "/admin/events/hooks",
        {"url": "javascript:alert(1)"},
        form_page="/admin/events/",
    )
    assert bad.status_code == 400 and "http://" in bad.get_data(as_text=True)
    assert audit(app)[-1] == "hook_added"


def test_testing_and_deleting_a_hook_need_csrf(app, admin_client, receiver):
    with app.app_context():
        db.session.add(Hook(url=receiver.url, secret="s" * 20))
        db.session.commit()
    assert admin_client.post("/admin/events/hooks/1/test").status_code == 400
    assert receiver.received == []  # no token: nothing sent
    post(admin_client, "/admin/events/hooks/1/test", form_page="/admin/events/")
    assert len(receiver.received) == 1
    assert admin_client.post("/admin/events/hooks/1/delete").status_code == 400
    with app.app_context():
        assert db.session.get(Hook, 1) is not None  # asked, not deleted
    confirm = admin_client.get("/admin/events/hooks/1/delete").get_data(as_text=True)
    assert "Delete webhook 1" in confirm
    post(admin_client, "/admin/events/hooks/1/delete", form_page="/admin/events/")
    with app.app_context():
        assert db.session.get(Hook, 1) is None
    html = admin_client.get("/admin/events/").get_data(as_text=True)
    assert "webhook (deleted), attempt 1" in html  # its deliveries stay on record
    assert audit(app)[-2:] == ["hook_tested", "hook_deleted"]
