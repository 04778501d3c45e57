"""Token budgets per day, ISO week and month in the gateway's time zone: period
boundaries with the clock injected, 429s in each API family's shape, the warning
share, exhaustion and shadow mode raising their events once."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from alembic import command

from ollama_gate import create_app
from ollama_gate.config import load_settings
from ollama_gate.extensions import db, migrate
from ollama_gate.history.models import Request
from ollama_gate.limits import notices
from ollama_gate.limits.periods import (
    local_reset,
    period_of,
    period_reset,
    periods_at,
    reset_text,
)
from ollama_gate.limits.usage import Usage
from ollama_gate.models import ApiKey, Team, User
from tests.helpers.keys import add_key

GEN = {"model": "llama3.2", "prompt": "one two three", "stream": False}
PARIS = "Europe/Paris"
NEW_YORK = "America/New_York"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture()
def zoned(tmp_path, fake_server):
    """A factory of gateway apps in a time zone, each with a clock the test sets."""
    made = []

    def make(zone: str, **settings):
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "test-secret",
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'gate.db'}",
                "BACKENDS": [fake_server.url],
                "KEY_CACHE_SECONDS": 0.0,
                "TIMEZONE": zone,
                **settings,
            }
        )
        with app.app_context():
            db.create_all()
            command.stamp(migrate.get_config(), "head")
        clock = [datetime(2026, 12, 7, 12, 0)]
        app.extensions["ollama_gate_limits"].quotas.clock = lambda: clock[0]
        made.append(app)
        return app, clock

    yield make
    for app in made:
        app.extensions["ollama_gate"].recorder.flush()
        with app.app_context():
            db.engine.dispose()


@pytest.fixture()
def events(monkeypatch):
    """The events the budgets raise, through a fake ``events.emit``."""
    raised = []

    def emit(kind, subject, message, data, dedupe=None):
        raised.append((kind, subject, message, data, dedupe))

    monkeypatch.setattr(notices, "emitter", lambda: emit)
    monkeypatch.setattr(notices, "_sent", type(notices._sent)())
    return raised


def spend_until_refused(app, client, key: str, path="/api/generate", body=GEN):
    """Calls until the budget refuses one; the refusal."""
    for _ in range(50):
        resp = client.post(path, json=body, headers=auth(key))
        app.extensions["ollama_gate"].recorder.flush()  # tokens count after the end
        if resp.status_code == 429:
            return resp
        assert resp.status_code == 200, resp.get_data()
    raise AssertionError("the budget never refused")


def rows_of(app, prefix: str) -> dict[str, tuple[int, int]]:
    app.extensions["ollama_gate"].recorder.flush()
    with app.app_context():
        key = db.session.execute(
            db.select(ApiKey).where(ApiKey.prefix == prefix)
        ).scalar_one()
        found = db.session.execute(db.select(Usage).where(Usage.key_id == key.id))
        return {row.period: (row.calls, row.tokens) for row in found.scalars()}


@pytest.mark.parametrize(
    ("utc", "zone", "expected"),
    [
        # Sunday 23:59 in Paris is still week 50; a minute later is Monday, week 51
        (datetime(2026, 12, 13, 22, 59), PARIS, "w:2026-W50@Europe/Paris"),
        (datetime(2026, 12, 13, 23, 0), PARIS, "w:2026-W51@Europe/Paris"),
        # in UTC that Monday began an hour later
        (datetime(2026, 12, 13, 23, 0), "UTC", "w:2026-W50"),
        # ISO weeks straddle years: 2026-12-28 is week 53 of 2026, 2027-01-04 week 1
        (datetime(2027, 1, 3, 12, 0), "UTC", "w:2026-W53"),
        (datetime(2027, 1, 4, 0, 0), "UTC", "w:2027-W01"),
        # New York's December ends at 05:00 UTC on January 1st
        (datetime(2027, 1, 1, 4, 59), NEW_YORK, "m:2026-12@America/New_York"),
        (datetime(2027, 1, 1, 5, 0), NEW_YORK, "m:2027-01@America/New_York"),
        (datetime(2026, 12, 7, 23, 30), PARIS, "d:2026-12-08@Europe/Paris"),
    ],
)
def test_periods_follow_the_calendar_of_the_zone(utc, zone, expected):
    assert period_of(expected[0], utc, zone) == expected
    assert expected in periods_at(utc, zone).values()


def test_period_resets_in_the_zone():
    week = "w:2026-W50@Europe/Paris"
    assert reset_text(week) == "2026-12-14 00:00 Europe/Paris"
    assert local_reset(week).isoformat() == "2026-12-14T00:00:00+01:00"
    assert period_reset(week) == datetime(2026, 12, 13, 23, 0)  # naive UTC
    month = "m:2026-12@America/New_York"
    assert local_reset(month).isoformat() == "2027-01-01T00:00:00-05:00"
    assert period_reset("w:2026-W53") == datetime(2027, 1, 4)
    # a day in summer time ends at its own offset
    assert local_reset("d:2026-07-01@Europe/Paris").isoformat().endswith("+02:00")


def test_time_zone_is_checked_at_start():
    with pytest.raises(RuntimeError) as info:
        load_settings({"OLLAMA_GATE_TIMEZONE": "Europe/Pariss"})
    assert "OLLAMA_GATE_TIMEZONE" in str(info.value)
    assert "unknown time zone 'Europe/Pariss'" in str(info.value)
    assert "IANA" in str(info.value)
    with pytest.raises(RuntimeError, match="OLLAMA_GATE_TIMEZONE: unknown time zone"):
        create_app({"TESTING": True, "SECRET_KEY": "s", "TIMEZONE": "../etc/passwd"})
    assert load_settings({})["TIMEZONE"] == "UTC"
    assert load_settings({"OLLAMA_GATE_TIMEZONE": PARIS})["TIMEZONE"] == PARIS


def test_weekly_budget_resets_at_monday_midnight_in_the_zone(zoned, events):
    app, clock = zoned(PARIS)
    client = app.test_client()
    key = add_key(app, tokens_per_week=30)
    clock[0] = datetime(2026, 12, 13, 22, 59)  # Sunday 23:59 in Paris
    refused = spend_until_refused(app, client, key)
    message = refused.get_json()["error"]
    assert "this API key's weekly token budget is used up (" in message
    assert "it resets at 2026-12-14 00:00 Europe/Paris" in message
    assert refused.headers["X-Ollama-Gate-Budget-Reset"] == "2026-12-14T00:00:00+01:00"
    assert refused.headers["Retry-After"] == "60"  # the clock is the test's
    assert refused.headers["x-should-retry"] == "false"
    clock[0] = datetime(2026, 12, 13, 23, 0)  # Monday 00:00 in Paris: a new week
    resp = client.post("/api/generate", json=GEN, headers=auth(key))
    assert resp.status_code == 200
    rows = rows_of(app, key[:11])
    assert rows["w:2026-W51@Europe/Paris"][0] == 1
    assert rows["w:2026-W50@Europe/Paris"][1] >= 30
    assert rows["d:2026-12-13@Europe/Paris"][1] >= 30  # Sunday's day row
    assert [e[0] for e in events].count("budget.exhausted") == 1


def test_monthly_budget_resets_at_the_month_end_in_the_zone(zoned, events):
    app, clock = zoned(NEW_YORK)
    client = app.test_client()
    key = add_key(app, tokens_per_month=25)
    clock[0] = datetime(2027, 1, 1, 4, 58)  # 23:58 on December 31st in New York
    refused = spend_until_refused(app, client, key, "/v1/chat/completions", CHAT)
    err = refused.get_json()["error"]
    assert err["type"] == "rate_limit_error"
    assert "this API key's monthly token budget is used up" in err["message"]
    assert "resets at 2027-01-01 00:00 America/New_York" in err["message"]
    assert refused.headers["X-Ollama-Gate-Budget-Reset"] == "2027-01-01T00:00:00-05:00"
    assert refused.headers["Retry-After"] == "120"
    clock[0] = datetime(2027, 1, 1, 5, 0)  # January in New York
    assert client.post("/api/generate", json=GEN, headers=auth(key)).status_code == 200
    assert rows_of(app, key[:11])["m:2027-01@America/New_York"][0] == 1


CHAT = {"model": "llama3.2", "messages": [{"role": "user", "content": "Hi"}]}
MESSAGES = {**CHAT, "max_tokens": 16}


def team_key(app, team: str, user: str = "alice", **team_settings) -> str:
    """A key of ``user`` in ``team``, made with ``team_settings``."""
    key = add_key(app, user)
    with app.app_context():
        found = db.session.execute(
            db.select(Team).where(Team.name == team)
        ).scalar_one_or_none()
        if found is None:
            found = Team(name=team, **team_settings)
            db.session.add(found)
            db.session.flush()
        owner = db.session.execute(
            db.select(User).where(User.name == user)
        ).scalar_one()
        owner.team_id = found.id
        db.session.commit()
    return key


def test_a_team_budget_refuses_in_each_api_family_shape(zoned):
    app, clock = zoned(PARIS)
    client = app.test_client()
    key = team_key(app, "ml", tokens_per_day=5)
    other = team_key(app, "ml", "bob")  # one pool for the team's members
    spend_until_refused(app, client, key)
    expected = "team 'ml' daily token budget is used up ("
    reset = "it resets at 2026-12-08 00:00 Europe/Paris"
    native = client.post("/api/chat", json=CHAT, headers=auth(other))
    assert native.status_code == 429
    assert expected in native.get_json()["error"]
    assert reset in native.get_json()["error"]
    openai = client.post("/v1/chat/completions", json=CHAT, headers=auth(other))
    assert openai.status_code == 429
    err = openai.get_json()["error"]
    assert err["type"] == "rate_limit_error" and expected in err["message"]
    anthropic = client.post(
        "/v1/messages",
        json=MESSAGES,
        headers={**auth(other), "anthropic-version": "2023-06-01"},
    )
    assert anthropic.status_code == 429
    body = anthropic.get_json()
    assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
    assert expected in body["error"]["message"] and reset in body["error"]["message"]
    for resp in (native, openai, anthropic):
        assert resp.headers["X-Ollama-Gate-Budget-Reset"] == "2026-12-08T00:00:00+01:00"
        assert resp.headers["Retry-After"] == str(11 * 3600)  # 13:00 to midnight


def test_warning_share_and_exhaustion_raise_one_event_each(zoned, events):
    app, clock = zoned("UTC")
    client = app.test_client()
    key = add_key(app, tokens_per_day=100, budget_warn_percent=50)
    spend_until_refused(app, client, key)
    for _ in range(3):  # refused calls raise nothing more
        assert client.post("/api/generate", json=GEN, headers=auth(key)).status_code
    app.extensions["ollama_gate"].recorder.flush()
    kinds = [e[0] for e in events]
    assert kinds == ["budget.threshold", "budget.exhausted"]
    with app.app_context():
        limits_id = db.session.execute(db.select(ApiKey.id)).scalar_one()
    threshold, exhausted = events
    assert threshold[4] == f"budget.threshold:key:{limits_id}:d2026-12-07"
    assert exhausted[4] == f"budget.exhausted:key:{limits_id}:d2026-12-07"
    assert threshold[3]["warn_at"] == 50 and 50 <= threshold[3]["used"] < 100
    assert "this API key's daily token budget is" in threshold[2]
    assert exhausted[3]["used"] >= 100 and exhausted[3]["budget"] == 100
    assert threshold[1] == f"key:{limits_id}"
    assert threshold[3]["subject_name"]


def test_the_gateway_default_warning_share_applies(zoned, events):
    app, clock = zoned("UTC", BUDGET_WARN_PERCENT=20)
    client = app.test_client()
    key = team_key(app, "ml", tokens_per_week=100)
    for _ in range(3):
        client.post("/api/generate", json=GEN, headers=auth(key))
        app.extensions["ollama_gate"].recorder.flush()
    assert [e[0] for e in events] == ["budget.threshold"]
    assert events[0][3]["warn_at"] == 20
    assert events[0][4].startswith("budget.threshold:team:") and events[0][4].endswith(
        ":w2026-W50"
    )


def test_shadow_mode_lets_calls_through_and_records_them(zoned, events):
    app, clock = zoned(PARIS)
    client = app.test_client()
    key = add_key(app, tokens_per_day=20, budget_shadow=True)
    codes = []
    for _ in range(8):  # about 10 tokens each: well past the budget
        codes.append(client.post("/api/generate", json=GEN, headers=auth(key)))
        app.extensions["ollama_gate"].recorder.flush()
    assert [r.status_code for r in codes] == [200] * 8
    kinds = [e[0] for e in events]
    assert kinds.count("budget.shadow") == 1  # once per subject and period
    assert kinds.count("budget.exhausted") == 1
    shadow = next(e for e in events if e[0] == "budget.shadow")
    assert shadow[4].endswith(":d2026-12-07") and "shadow mode" in shadow[2]
    with app.app_context():
        marked = [
            (row.stats or {}).get("budget_shadow")
            for row in db.session.execute(
                db.select(Request).order_by(Request.started_at)
            ).scalars()
        ]
    assert len(marked) == 8
    assert marked[0] is None  # the first calls fit
    assert marked[-1] == ["this API key's daily token budget"]
    tokens = rows_of(app, key[:11])["d:2026-12-07@Europe/Paris"][1]
    assert tokens > 20  # every call charged, past the budget


def test_a_shadow_team_does_not_spare_an_enforcing_key(zoned, events):
    app, clock = zoned("UTC")
    client = app.test_client()
    key = team_key(app, "ml", tokens_per_day=5, budget_shadow=True)
    with app.app_context():
        row = db.session.execute(db.select(ApiKey)).scalar_one()
        row.tokens_per_day = 30
        db.session.commit()
    refused = spend_until_refused(app, client, key)
    assert "this API key's daily token budget" in refused.get_json()["error"]
    assert [e[0] for e in events].count("budget.shadow") == 1


def test_the_seam_logs_without_an_events_module(caplog, monkeypatch):
    from ollama_gate.subjects import Subject

    monkeypatch.setattr(notices, "_sent", type(notices._sent)())
    monkeypatch.setattr(notices, "emitter", lambda: None)  # as without events/
    team = Subject("team", 3, "ml")
    with caplog.at_level("WARNING", logger="ollama_gate.limits.budgets"):
        assert notices.notify("budget.threshold", team, "80% used", {}, "w:2026-W50")
        assert not notices.notify("budget.threshold", team, "again", {}, "w:2026-W50")
    assert [r.getMessage() for r in caplog.records] == ["budget.threshold: 80% used"]
    key = notices.dedupe_key("budget.threshold", team, "w:2026-W50@Europe/Paris")
    assert key == "budget.threshold:team:3:w2026-W50"


def test_a_failing_emitter_fails_no_call(zoned, monkeypatch):
    app, clock = zoned("UTC")

    def broken(*args, **kwargs):
        raise RuntimeError("webhook store down")

    monkeypatch.setattr(notices, "emitter", lambda: broken)
    monkeypatch.setattr(notices, "_sent", type(notices._sent)())
    client = app.test_client()
    key = add_key(app, tokens_per_day=10, budget_shadow=True)
    for _ in range(3):
        assert client.post("/api/generate", json=GEN, headers=auth(key)).status_code
        app.extensions["ollama_gate"].recorder.flush()
    assert client.post("/api/generate", json=GEN, headers=auth(key)).status_code == 200


def test_usage_shows_used_budget_and_reset_per_period(zoned):
    app, clock = zoned(PARIS)
    client = app.test_client()
    key = team_key(app, "ml", tokens_per_week=1000)
    with app.app_context():
        row = db.session.execute(db.select(ApiKey)).scalar_one()
        row.tokens_per_week, row.budget_shadow = 500, True
        db.session.commit()
    client.post("/api/generate", json=GEN, headers=auth(key))
    app.extensions["ollama_gate"].recorder.flush()
    runner = app.test_cli_runner()
    out = runner.invoke(args=["keys", "usage", key[:11]]).output
    assert "this week (resets 2026-12-14 00:00 Europe/Paris): tokens " in out
    assert " / 500 (shadow)" in out
    assert "today (resets 2026-12-08 00:00 Europe/Paris): calls 1 / no quota" in out
    team = runner.invoke(args=["teams", "set", "ml", "--budget-warn-percent", "90"])
    assert team.exit_code == 0, team.output
    assert "budget warn percent: 90" in team.output
    assert "this week (resets 2026-12-14 00:00 Europe/Paris): tokens " in team.output
    assert " / 1000" in team.output
    report = client.get("/gate/api/usage", headers=auth(key)).get_json()
    assert report["timezone"] == PARIS
    assert report["usage"]["week"]["tokens_quota"] == 500
    assert report["usage"]["week"]["resets_at"] == "2026-12-14T00:00:00+01:00"
    assert report["usage"]["week"]["budget_shadow"] is True


def test_the_key_page_sets_budgets_and_shows_them_in_the_zone(zoned):
    from ollama_gate.audit import AuditLog
    from tests.helpers.admin import login, make_admin, post

    app, clock = zoned(PARIS)
    client = app.test_client()
    make_admin(app)
    assert login(client).status_code == 302
    page = post(client, "/admin/users", {"name": "alice"}).headers["Location"]
    page = page.replace("http://localhost", "")
    resp = post(client, f"{page}/keys", {"name": "k"}, page)
    key_id = int(resp.headers["Location"].split("/admin/keys/")[1].split("/")[0])
    key_page = f"/admin/keys/{key_id}"
    form = {"name": "k", "tokens_per_week": "700", "budget_warn_percent": "90"}
    resp = post(client, key_page, {**form, "budget_shadow": "y"}, key_page)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    with app.app_context():
        row = db.session.get(ApiKey, key_id)
        assert (row.tokens_per_week, row.budget_warn_percent, row.budget_shadow) == (
            700,
            90,
            True,
        )
        audit = db.session.execute(
            db.select(AuditLog).where(AuditLog.action == "key_updated")
        ).scalar_one()
        assert "tokens_per_week: none → 700" in audit.detail
        assert "budget_shadow: none → True" in audit.detail
    html = client.get(key_page).get_data(as_text=True)
    assert "Period (Europe/Paris)" in html
    assert "2026-12-14 00:00 Europe/Paris" in html  # this week's reset
    assert 'id="usage-w"' in html and ">shadow<" in html
    bad = post(client, key_page, {**form, "budget_warn_percent": "101"}, key_page)
    assert bad.status_code == 400 and "must be at most 100" in bad.get_data(True)
    resp = post(client, key_page, form, key_page)  # the box unticked: enforced
    with app.app_context():
        assert db.session.get(ApiKey, key_id).budget_shadow is None


def test_the_self_service_page_shows_the_week_in_the_zone(zoned):
    app, clock = zoned(PARIS)
    client = app.test_client()
    key = add_key(app, tokens_per_week=400)
    client.post("/api/generate", json=GEN, headers=auth(key))
    app.extensions["ollama_gate"].recorder.flush()
    form = client.get("/gate/usage").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form)[1]
    html = client.post("/gate/usage", data={"csrf_token": token, "key": key}).get_data(
        as_text=True
    )
    assert "Period (Europe/Paris)" in html
    week = html.split('id="usage-week"')[1].split("</tr>")[0]
    assert "This week (2026-W50)" in week and "of 400" in week
    assert "2026-12-14 00:00" in week


def test_a_budget_crossing_lands_in_the_event_log(zoned, monkeypatch):
    """No stand-in: the real events module records the warning and the end."""
    from ollama_gate.events import emit
    from ollama_gate.events.models import Event
    from tests.events.test_events import events_of

    monkeypatch.setattr(notices, "_sent", type(notices._sent)())
    assert notices.emitter() is emit
    app, clock = zoned("UTC")
    writer = events_of(app)
    key = add_key(app, tokens_per_day=100, budget_warn_percent=50)
    spend_until_refused(app, app.test_client(), key)
    app.extensions["ollama_gate"].recorder.flush()
    with app.app_context():
        writer.write_queued()
        found = db.session.execute(db.select(Event).order_by(Event.id)).scalars()
        rows = [(e.kind, e.subject) for e in found]
        key_id = db.session.execute(db.select(ApiKey.id)).scalar_one()
    assert rows == [
        ("budget.threshold", f"key:{key_id}"),
        ("budget.exhausted", f"key:{key_id}"),
    ]


def test_the_periods_of_a_minute_are_named_once_and_change_at_midnight():
    """Every call asks for its periods; they are worked out once a minute, and a
    minute's answer is exact because a period starts on a whole minute."""
    from ollama_gate.limits.quotas import Quotas

    quotas = Quotas(counters=None, zone=PARIS)
    before = quotas.periods(datetime(2026, 12, 13, 22, 59, 1))
    assert quotas.periods(datetime(2026, 12, 13, 22, 59, 59, 999)) is before
    assert before["w"] == "w:2026-W50@Europe/Paris"
    after = quotas.periods(datetime(2026, 12, 13, 23, 0, 0))  # Monday in Paris
    assert after["w"] == "w:2026-W51@Europe/Paris"
    assert after["d"] == "d:2026-12-14@Europe/Paris"
    assert after == periods_at(datetime(2026, 12, 13, 23, 0, 0), PARIS)
