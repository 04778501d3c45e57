"""Budgets shared through Redis by two gunicorn workers: a burst against a team's
weekly budget lets exactly what fits through, and the warning event is raised once
by whichever worker's record crosses it."""

from __future__ import annotations

import json
import math
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from ollama_gate.extensions import db
from ollama_gate.models import Team, User
from tests.helpers.keys import add_key
from tests.helpers.live import LiveGateway
from tests.helpers.services import REDIS_URL

pytestmark = pytest.mark.needs_redis

# a database no other test flushes, and a prefix of this run's own: nothing to flush
TEST_REDIS = REDIS_URL.rsplit("/", 1)[0] + "/11"

MAX = 5  # the answer's bound: each call holds its prompt and this
BODY = {
    "model": "llama3.2",
    "messages": [{"role": "user", "content": "Tell me a story"}],
    "stream": True,
    "options": {"num_predict": MAX},
}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def estimate() -> int:
    """The tokens one call holds (``reserve.tokens_to_hold``): body bytes / 4 + MAX."""
    return math.ceil(len(json.dumps(BODY).encode()) / 4) + MAX


def team_keys(gw, team: str, users: list[str], **settings) -> list[str]:
    """One key for each of ``users``, all members of a new ``team``."""
    keys = [add_key(gw.app, user) for user in users]
    with gw.app.app_context():
        row = Team(name=team, **settings)
        db.session.add(row)
        db.session.flush()
        for user in db.session.execute(
            db.select(User).where(User.name.in_(users))
        ).scalars():
            user.team_id = row.id
        db.session.commit()
    return keys


def calls_today(gw, keys: list[str]) -> int:
    """The team's members' calls today, from ``keys usage``."""
    total = 0
    for key in keys:
        for line in gw.cli("keys", "usage", key[:11]).stdout.splitlines():
            if line.startswith("today"):
                total += int(line.split("calls ")[1].split(" ")[0])
    return total


@pytest.fixture()
def paris_workers(tmp_path, fake_server):
    """Two gevent workers sharing Redis, in Paris time, warning at 10%."""
    env = {
        "OLLAMA_GATE_REDIS_URL": TEST_REDIS,
        "OLLAMA_GATE_REDIS_PREFIX": f"budgets-{uuid.uuid4().hex[:12]}",
        "OLLAMA_GATE_TIMEZONE": "Europe/Paris",
        "OLLAMA_GATE_BUDGET_WARN_PERCENT": "10",
    }
    gw = LiveGateway(tmp_path, fake_server.url, workers=2, env=env).start()
    yield gw
    gw.stop()


def test_a_burst_against_a_team_budget_lets_exactly_what_fits(paris_workers, fake):
    gw = paris_workers
    fits = 3
    keys = team_keys(gw, "ml", ["ann", "ben"], tokens_per_week=fits * estimate())
    fake.hold_second_chunk = True  # every admitted call stays in flight

    def one(n):
        resp = requests.post(
            gw.url + "/api/chat",
            json=BODY,
            headers=auth(keys[n % 2]),
            stream=True,
            timeout=60,
        )
        return resp

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(one, range(16)))
    codes = [a.status_code for a in answers]
    fake.release.set()
    for answer in answers:
        assert answer.content is not None  # the admitted ones end now
    assert codes.count(200) == fits and codes.count(429) == 16 - fits
    refused = [a for a in answers if a.status_code == 429]
    assert all("team 'ml' weekly token budget" in a.json()["error"] for a in refused)
    deadline = time.monotonic() + 20
    while calls_today(gw, keys) != fits:  # recorded by both workers, live in Redis
        assert time.monotonic() < deadline, calls_today(gw, keys)
        time.sleep(0.2)

    # the warning share (10%) was crossed by one record of one worker: one event
    # in the event log (the events module is there: the budgets log none)
    def thresholds() -> list[str]:
        listed = gw.cli("events", "list", "--kind", "budget.threshold").stdout
        return [line for line in listed.splitlines() if "budget.threshold" in line]

    deadline = time.monotonic() + 10
    while not thresholds():
        assert time.monotonic() < deadline, "no budget.threshold event"
        time.sleep(0.2)
    time.sleep(1)  # a second worker's record, if any, would have raised one by now
    assert len(thresholds()) == 1
