"""Teams: the CLI, and a team's settings binding every member's keys."""

from __future__ import annotations

import pytest
import redis

from ollama_gate import create_app
from ollama_gate.audit import AuditLog
from ollama_gate.extensions import db
from ollama_gate.models import Team, User
from tests.helpers.keys import add_key
from tests.helpers.services import REDIS_URL

CHAT = {
    "model": "llama3.2",
    "messages": [{"role": "user", "content": "hi"}],
    "stream": False,
}
TEST_REDIS = REDIS_URL.rsplit("/", 1)[0] + "/11"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def cli(runner, *args: str):
    result = runner.invoke(args=list(args))
    return result


def in_team(app, team: str, *users: str, **settings) -> None:
    """Make team ``team`` with ``settings`` and put ``users`` in it."""
    with app.app_context():
        row = Team(name=team, **settings)
        db.session.add(row)
        for name in users:
            user = db.session.execute(
                db.select(User).where(User.name == name)
            ).scalar_one()
            user.team = row
        db.session.commit()


def audit_details(app, action: str) -> list[str]:
    with app.app_context():
        return [
            f"{row.target}|{row.detail}"
            for row in db.session.execute(
                db.select(AuditLog).where(AuditLog.action == action)
            ).scalars()
        ]


def test_teams_create_list_set_delete_and_users_team(app, runner):
    made = cli(runner, "teams", "create", "ml", "--tokens-per-day", "1000")
    assert made.exit_code == 0, made.output
    assert "tokens per day: 1000" in made.output
    assert audit_details(app, "team_created") == ["ml|tokens_per_day: none → 1000"]
    assert cli(runner, "teams", "create", "ml").exit_code != 0  # names are unique

    bad = cli(runner, "teams", "set", "ml", "--calls-per-day", "ten")
    assert bad.exit_code != 0 and "not a whole number" in bad.output
    assert cli(runner, "teams", "set", "ml").exit_code != 0  # nothing to change
    changed = cli(
        runner, "teams", "set", "ml", "--models", "llama3*", "--rate-limit", "5/minute"
    )
    assert changed.exit_code == 0, changed.output
    (detail,) = audit_details(app, "team_updated")
    assert "model_allowlist: none → llama3*" in detail
    assert "rate_limit: none → 5/minute" in detail

    made = cli(
        runner, "users", "create", "bob", "--team", "ml", "--max-concurrency", "2"
    )
    assert made.exit_code == 0, made.output
    assert cli(runner, "users", "create", "eve", "--team", "nope").exit_code != 0
    moved = cli(runner, "users", "set", "bob", "--team", "none")
    assert moved.exit_code == 0, moved.output
    assert cli(runner, "users", "set", "bob", "--team", "ml").exit_code == 0
    details = audit_details(app, "user_updated")
    assert details == ["bob|team: ml → none", "bob|team: none → ml"]
    assert "team=ml" in cli(runner, "users", "list").output
    listed = cli(runner, "teams", "list").output
    assert "ml\tmembers=1" in listed and "model allowlist: llama3*" in listed

    refused = cli(runner, "teams", "delete", "ml")
    assert refused.exit_code != 0 and "1 member(s) (bob)" in refused.output
    assert cli(runner, "teams", "delete", "ml", "--force").exit_code == 0
    with app.app_context():
        bob = db.session.execute(db.select(User).where(User.name == "bob")).scalar_one()
        assert bob.team is None and bob.max_concurrency == 2  # kept, team-less
        assert db.session.execute(db.select(Team)).first() is None
    assert audit_details(app, "team_deleted") == ["ml|members left team-less: bob"]


def test_a_team_allowlist_narrows_a_keys_and_the_model_list(app, client):
    wide = add_key(app, "bob", model_allowlist="llama3*,qwen*")
    in_team(app, "ml", "bob", model_allowlist="qwen*,nomic*")
    refused = client.post("/api/chat", json=CHAT, headers=auth(wide))
    assert refused.status_code == 403
    assert "team 'ml' may not use model 'llama3.2'" in refused.get_data(as_text=True)
    tags = client.get("/api/tags", headers=auth(wide)).get_json()["models"]
    names = {m["name"] for m in tags}
    assert names and all(n.startswith("qwen") for n in names)  # both rules at once
    models = client.get("/v1/models", headers=auth(wide)).get_json()["data"]
    assert all(m["id"].startswith("qwen") for m in models)


def test_a_team_scope_bound_removes_manage_from_member_keys(app, client):
    key = add_key(app, "bob", scopes="manage")
    body = {"model": "llama3.2"}
    assert client.post("/api/pull", json=body, headers=auth(key)).status_code != 403
    in_team(app, "ml", "bob", scopes="")  # bounds them to none
    refused = client.post("/api/pull", json=body, headers=auth(key))
    assert refused.status_code == 403
    assert "team 'ml' lacks the 'manage' scope" in refused.get_data(as_text=True)


def test_the_strictest_level_wins(app, client):
    key = add_key(app, "bob", calls_per_day=5)
    with app.app_context():
        bob = db.session.execute(db.select(User).where(User.name == "bob")).scalar_one()
        bob.calls_per_day = 2  # the user's is stricter than the key's
        db.session.commit()
    codes = [
        client.post("/api/chat", json=CHAT, headers=auth(key)).status_code
        for _ in range(3)
    ]
    assert codes == [200, 200, 429]
    last = client.post("/api/chat", json=CHAT, headers=auth(key))
    assert "daily call quota of user 'bob' is used up" in last.get_data(as_text=True)


def test_a_team_rate_limit_binds_member_keys(app, client):
    one = add_key(app, "bob")
    two = add_key(app, "carol")
    in_team(app, "ml", "bob", "carol", rate_limit="2/minute")
    codes = [
        client.post("/api/chat", json=CHAT, headers=auth(k)).status_code
        for k in (one, two, one)
    ]
    assert codes == [200, 200, 429]


def team_pool(app) -> None:
    """Two members' keys, each with room, share the team's pool of 3 calls."""
    one = add_key(app, "bob", calls_per_day=10)
    two = add_key(app, "carol")
    in_team(app, "ml", "bob", "carol", calls_per_day=3)
    web = app.test_client()
    codes = [
        web.post("/api/chat", json=CHAT, headers=auth(k)).status_code
        for k in (one, two, one, two)
    ]
    assert codes == [200, 200, 200, 429]
    refused = web.post("/api/chat", json=CHAT, headers=auth(one))
    assert refused.status_code == 429
    assert "daily call quota of team 'ml' is used up (3 of 3 calls)" in (
        refused.get_data(as_text=True)
    )
    app.extensions["ollama_gate"].recorder.flush()
    # the key's own counter counted only the admitted calls: the refusal was undone
    state = app.extensions["ollama_gate_limits"]
    with app.app_context():
        key = (
            db.session.execute(db.select(User).where(User.name == "bob"))
            .scalar_one()
            .keys[0]
        )
        today = state.report(key)[0]
        assert today["calls"] == 2


def test_a_team_quota_is_one_pool_in_memory(app):
    team_pool(app)


def test_a_team_quota_is_seeded_from_member_keys_after_a_restart(tmp_path, fake_server):
    config = {
        "TESTING": True,
        "SECRET_KEY": "s",
        "KEY_CACHE_SECONDS": 0.0,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 't.db'}",
        "BACKENDS": [fake_server.url],
    }
    app = create_app(config)
    with app.app_context():
        db.create_all()
    one = add_key(app, "bob")
    two = add_key(app, "carol")
    in_team(app, "ml", "bob", "carol", calls_per_day=3)
    web = app.test_client()
    for key in (one, two):
        assert web.post("/api/chat", json=CHAT, headers=auth(key)).status_code == 200
    app.extensions["ollama_gate"].recorder.flush()
    again = create_app(config)  # a restart: counters in memory start empty
    web = again.test_client()
    codes = [
        web.post("/api/chat", json=CHAT, headers=auth(k)).status_code
        for k in (one, two)
    ]
    assert codes == [200, 429]
    for gate in (app, again):
        gate.extensions["ollama_gate"].recorder.flush()
        with gate.app_context():
            db.engine.dispose()


@pytest.mark.needs_redis
def test_a_team_quota_is_one_pool_in_redis(tmp_path, fake_server):
    client = redis.Redis.from_url(TEST_REDIS)
    client.flushdb()
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "s",
            "KEY_CACHE_SECONDS": 0.0,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'r.db'}",
            "BACKENDS": [fake_server.url],
            "REDIS_URL": TEST_REDIS,
            "REDIS_PREFIX": "og-team",
        }
    )
    with app.app_context():
        db.create_all()
    team_pool(app)
    assert client.keys("og-team:quota:team:*")  # the team's pool is in Redis
    with app.app_context():
        db.engine.dispose()


def test_a_team_concurrency_cap_and_its_refusal_names_the_team(app):
    from ollama_gate.keys import Identity
    from ollama_gate.limits.concurrency import Concurrency
    from ollama_gate.models import ApiKey
    from ollama_gate.shared.slots import MemorySlots

    add_key(app, "bob")
    add_key(app, "carol")
    in_team(app, "ml", "bob", "carol", max_concurrency=1)
    with app.app_context():
        keys = db.session.execute(db.select(ApiKey).order_by(ApiKey.id)).scalars()
        identities = [Identity.from_key(k) for k in keys]
    stage = Concurrency(MemorySlots())

    class Call:  # what the stage reads of a call
        def __init__(self, identity):
            self.identity, self.levels, self.extra = identity, (), {}

    first, second = Call(identities[0]), Call(identities[1])
    stage(first)
    with pytest.raises(Exception) as refused:
        stage(second)
    assert "team 'ml' already has 1 calls in flight" in str(refused.value)
    stage.release(first)
    stage(second)  # the team's slot came back
