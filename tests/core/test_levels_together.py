"""Every level at once: a person behind an app key whose user is in a team.

The person's own quota (the app key's per-person defaults), the team's token budget
and the key's rate limit all bind the same calls; each refusal names its level; the
fair queue shares between people; the history row names the team and the person;
a person's budget raises its events.
"""

from __future__ import annotations

from alembic import command

from ollama_gate import create_app
from ollama_gate.endusers.models import EndUser, EndUserUsage
from ollama_gate.events.models import Event
from ollama_gate.extensions import db, migrate
from ollama_gate.history.models import Request
from ollama_gate.limits import notices
from ollama_gate.models import ApiKey
from ollama_gate.scheduler.core import Scheduler
from tests.core.test_teams import in_team
from tests.endusers.test_endusers import ALICE, BOB, app_key, chat_body, owui_headers

CAROL = ("c-3", "Carol", "carol@example.com")


def test_person_team_and_key_levels_bind_together(app, client, monkeypatch):
    # a chat of the fake costs 9 tokens
    # a worker raises a budget's event once: forget those other tests raised
    monkeypatch.setattr(notices, "_sent", type(notices._sent)())
    key = app_key(app, rate_limit="6/minute")
    in_team(app, "ml", "webui", tokens_per_day=27)
    with app.app_context():
        k = db.session.execute(db.select(ApiKey)).scalars().one()
        db.session.add(  # the app key's per-person defaults
            EndUser(
                key_id=k.limits_id,
                user_id=k.user_id,
                external_id="*",
                calls_per_day=2,
                tokens_per_day=30,
                budget_warn_percent=50,
            )
        )
        db.session.commit()
        key_id, team_id = k.id, k.user.team_id
    recorder = app.extensions["ollama_gate"].recorder
    owners = []
    owner = Scheduler.owner
    monkeypatch.setattr(
        Scheduler,
        "owner",
        lambda self, call: owners.append(owner(self, call)) or owners[-1],
    )

    def chat(who):
        reply = client.post(
            "/api/chat", json=chat_body("q"), headers=owui_headers(key, *who)
        )
        recorder.flush()
        return reply

    def error(reply):
        assert reply.status_code == 429, reply.get_data(as_text=True)
        return reply.get_json()["error"]

    # the person's own quota: two calls each (Alice's 18 tokens cross her warning)
    assert [chat(ALICE).status_code for _ in range(2)] == [200, 200]
    assert "daily call quota of end user 'Alice Liddell'" in error(chat(ALICE))
    # the team's budget is one pool: Alice's 18 tokens and Bob's 9 use it up
    assert chat(BOB).status_code == 200
    refused = chat(BOB)
    assert "team 'ml' daily token budget" in error(refused)
    assert refused.headers["X-Ollama-Gate-Budget-Reset"]
    # the key's rate limit counts every person's calls: six a minute for them all
    with app.app_context():
        db.session.get(ApiKey, key_id).user.team.tokens_per_day = None
        db.session.commit()
    assert chat(CAROL).status_code == 200
    assert "rate limit" in error(chat(CAROL)).lower()

    with app.app_context():
        people = {
            p.external_id: p.id
            for p in db.session.execute(db.select(EndUser)).scalars()
        }
        rows = (
            db.session.execute(db.select(Request).order_by(Request.started_at))
            .scalars()
            .all()
        )
        events = db.session.execute(db.select(Event)).scalars().all()
    # the fair queue's owner is the person, not the app
    assert set(owners) == {f"end_user:{people[p[0]]}" for p in (ALICE, BOB, CAROL)}
    # each history row names both the team and the person
    assert len(rows) == 7
    assert {(r.team_name, r.end_user_name) for r in rows} == {
        ("ml", "Alice Liddell"),
        ("ml", "Bob Müller"),
        ("ml", "Carol"),
    }
    # the person's budget raises its events, as the team's does
    kinds = {(e.kind, e.subject) for e in events}
    assert ("budget.threshold", f"end_user:{people[ALICE[0]]}") in kinds
    assert ("budget.exhausted", f"team:{team_id}") in kinds


def test_a_persons_weekly_budget_in_a_time_zone_survives_a_restart(
    tmp_path, fake_server
):
    # the person's usage rows are their counters' seed: named as the quotas name
    # their periods (the zone's day, week and month), or a restart forgets them
    def gateway():
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "test-secret",
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'gate.db'}",
                "BACKENDS": [fake_server.url],
                "KEY_CACHE_SECONDS": 0.0,
                "TIMEZONE": "Europe/Paris",
            }
        )
        with app.app_context():
            db.create_all()
            command.stamp(migrate.get_config(), "head")
        return app

    first = gateway()
    key = app_key(first)
    with first.app_context():
        k = db.session.execute(db.select(ApiKey)).scalars().one()
        db.session.add(
            EndUser(
                key_id=k.limits_id,
                user_id=k.user_id,
                external_id="*",
                tokens_per_week=18,
            )
        )
        db.session.commit()
    for _ in range(2):  # 9 tokens each: the week's 18 are spent
        reply = first.test_client().post(
            "/api/chat", json=chat_body("q"), headers=owui_headers(key, *ALICE)
        )
        assert reply.status_code == 200, reply.get_data(as_text=True)
        first.extensions["ollama_gate"].recorder.flush()
    with first.app_context():
        periods = {
            u.period for u in db.session.execute(db.select(EndUserUsage)).scalars()
        }
    assert any(p.startswith("w:") and p.endswith("@Europe/Paris") for p in periods)
    again = (
        gateway()
        .test_client()
        .post("/api/chat", json=chat_body("q"), headers=owui_headers(key, *ALICE))
    )
    assert again.status_code == 429
    assert "end user 'Alice Liddell' weekly token budget" in again.get_json()["error"]
