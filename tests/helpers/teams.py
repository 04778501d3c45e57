"""A world of two teams for the team admin tests: ``ml`` with a team admin, a member,
a second team admin and an admin; ``ops`` with a member; keys and one call each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from ollama_gate.extensions import db
from ollama_gate.history.models import Request, new_id
from ollama_gate.models import ApiKey, User, utcnow
from tests.helpers.admin import login, make_admin, make_person
from tests.helpers.keys import add_key

FORM = "/admin/account"  # any page with a form gives a CSRF token for the session


@dataclass
class World:
    """Two teams: ``ml`` (team admin tess, member mia, an admin boss, a second team
    admin ted) and ``ops`` (member otto); keys and one call each."""

    ml: int
    ops: int
    mia: int
    otto: int
    boss: int
    ted: int
    mia_key: int
    otto_key: int
    boss_key: int
    mia_prefix: str
    otto_prefix: str
    mia_call: str
    otto_call: str


def _call(user: User, prompt: str) -> str:
    when = utcnow() - timedelta(minutes=1)
    row = Request(
        id=new_id(when),
        started_at=when,
        user_name=user.name,
        user_id=user.id,
        team_name=user.team.name,
        team_id=user.team_id,
        key_prefix=user.keys[0].prefix,
        endpoint="/api/chat",
        model="llama3.2",
        status=200,
        total_tokens=8,
        completed=True,
        prompt_text=prompt,
        answer_text="fine",
    )
    db.session.add(row)
    return row.id


@pytest.fixture()
def world(app) -> World:
    make_admin(app)
    make_person(app, "tess", role="team_admin", team="ml")
    ids = {
        "mia": make_person(app, "mia", None, team="ml"),
        "ted": make_person(app, "ted", role="team_admin", team="ml"),
        "boss": make_person(app, "boss", role="admin", team="ml"),
        "otto": make_person(app, "otto", None, team="ops"),
    }
    for name in ("mia", "otto", "boss"):
        add_key(app, name, name=f"{name}-laptop")
    with app.app_context():
        people = {n: db.session.get(User, i) for n, i in ids.items()}
        calls = {n: _call(people[n], f"secret of {n}") for n in ("mia", "otto")}
        db.session.commit()
        return World(
            ml=people["mia"].team_id,
            ops=people["otto"].team_id,
            mia=ids["mia"],
            otto=ids["otto"],
            boss=ids["boss"],
            ted=ids["ted"],
            mia_key=people["mia"].keys[0].id,
            otto_key=people["otto"].keys[0].id,
            boss_key=people["boss"].keys[0].id,
            mia_prefix=people["mia"].keys[0].prefix,
            otto_prefix=people["otto"].keys[0].prefix,
            mia_call=calls["mia"],
            otto_call=calls["otto"],
        )


@pytest.fixture()
def tess(client, world):
    """``client`` signed in as tess, team admin of ml."""
    resp = login(client, "tess")
    assert resp.headers["Location"] == "/admin/"
    return client


def text(resp) -> str:
    return resp.get_data(as_text=True)


def key_state(app, key_id: int) -> tuple:
    with app.app_context():
        key = db.session.get(ApiKey, key_id)
        return key.disabled, key.revoked_at, key.revoke_at, key.name
