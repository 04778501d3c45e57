"""Webhooks paused and resumed (command and page, audited, CSRF), and the event log's
retention: old events and their deliveries deleted, recent ones kept."""

from __future__ import annotations

from datetime import timedelta

from ollama_gate.events import emit
from ollama_gate.events.models import Delivery, Event, Hook
from ollama_gate.events.retention import retention_job
from ollama_gate.extensions import db
from ollama_gate.models import utcnow
from tests.events.test_admin import audit
from tests.events.test_events import events_of, hook
from tests.helpers.admin import post


def test_a_paused_hook_is_sent_nothing_until_resumed(app, runner, receiver):
    events = events_of(app)
    hook_id, _ = hook(app, receiver.url)
    out = runner.invoke(args=["hooks", "disable", str(hook_id)])
    assert out.exit_code == 0 and "disabled" in out.output
    assert "disabled" in runner.invoke(args=["hooks", "list"]).output
    emit("backend.down", "backend:a", "down", app=app)
    events.run_once()
    assert receiver.received == []
    assert runner.invoke(args=["hooks", "enable", str(hook_id)]).exit_code == 0
    emit("backend.up", "backend:a", "up", app=app)
    events.run_once()
    # events are not saved up while paused: only the one after resuming arrives
    assert [r["json"]["kind"] for r in receiver.received] == ["backend.up"]
    assert audit(app)[-2:] == ["hook_disabled", "hook_enabled"]
    bad = runner.invoke(args=["hooks", "disable", "99"])
    assert bad.exit_code != 0 and "no webhook has id 99" in bad.output


def test_the_page_pauses_and_resumes_with_a_csrf_token(app, admin_client, receiver):
    hook_id, _ = hook(app, receiver.url)
    url = f"/admin/events/hooks/{hook_id}/disable"
    assert admin_client.post(url).status_code == 400  # no token
    with app.app_context():
        assert db.session.get(Hook, hook_id).enabled
    post(admin_client, url, form_page="/admin/events/")
    with app.app_context():
        assert not db.session.get(Hook, hook_id).enabled
    page = admin_client.get("/admin/events/").get_data(as_text=True)
    assert "paused" in page and "Resume" in page
    post(
        admin_client,
        f"/admin/events/hooks/{hook_id}/enable",
        form_page="/admin/events/",
    )
    with app.app_context():
        assert db.session.get(Hook, hook_id).enabled
    assert audit(app)[-2:] == ["hook_disabled", "hook_enabled"]


def _age(app, days: float) -> None:
    """Backdate every event so far by ``days``."""
    with app.app_context():
        db.session.execute(db.update(Event).values(at=utcnow() - timedelta(days=days)))
        db.session.commit()


def counts(app) -> tuple[int, int]:
    with app.app_context():
        n = db.session.scalar(db.select(db.func.count()).select_from(Event))
        d = db.session.scalar(db.select(db.func.count()).select_from(Delivery))
        return n, d


def test_retention_deletes_old_events_with_their_deliveries(app, runner, receiver):
    events = events_of(app)
    hook(app, receiver.url)
    emit("backend.down", "backend:a", "old", app=app)
    events.run_once()
    _age(app, 100)
    emit("backend.up", "backend:a", "new", app=app)
    events.run_once()
    assert counts(app) == (2, 2)
    with app.app_context():
        assert retention_job(app) == 1  # the default keeps 90 days
    assert counts(app) == (1, 1)
    with app.app_context():
        kept = db.session.execute(db.select(Event.message)).scalars().all()
    assert kept == ["new"]
    _age(app, 10)
    out = runner.invoke(args=["events", "prune", "--days", "5"])
    assert out.exit_code == 0 and "deleted 1 events" in out.output
    assert counts(app) == (0, 0)


def test_retention_zero_keeps_every_event(app, runner):
    app.config["GATE"]["EVENT_RETENTION_DAYS"] = 0
    events = events_of(app)  # before any emit: no thread of its own
    emit("backend.down", "backend:a", "old", app=app)
    events.run_once()
    _age(app, 1000)
    with app.app_context():
        assert retention_job(app) == 0
    assert counts(app)[0] == 1
    out = runner.invoke(args=["events", "prune"])
    assert out.exit_code != 0 and "give --days" in out.output
