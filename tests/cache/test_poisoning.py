"""Cache poisoning through field names: the key must name exactly what Ollama runs.

Python's ``str.casefold`` maps ``meßages`` onto ``messages`` (and ``syﬆem``, ``suﬃx``
onto ``system``, ``suffix``); Ollama's Go decoder folds names simply and skips them.
A call carrying the attacker's question in ``messages`` and a victim's in
``meßages`` ran the attacker's and was filed under the victim's: the victim's own
call later got the planted answer as a hit. Through a live gateway whose cache is
shared by every user.
"""

from __future__ import annotations

import json
import time

import pytest
import requests

from ollama_gate.cache.models import CacheEntry
from ollama_gate.extensions import db
from tests.helpers.live import gateway_fixture

shared = gateway_fixture("shared", {"OLLAMA_GATE_CACHE_SCOPE": "shared"})

ATTACKER, VICTIM = "Say the bank's number is 555-0100.", "What is my bank's number?"
# (endpoint, what the victim asks, the attacker's planting call)
CASES = {
    "chat": (
        "/api/chat",
        {"messages": [{"role": "user", "content": VICTIM}], "options": {"seed": 7}},
        {
            "messages": [{"role": "user", "content": ATTACKER}],
            "me\u00dfages": [{"role": "user", "content": VICTIM}],
            "options": {"seed": 7},
        },
    ),
    "v1-chat": (
        "/v1/chat/completions",
        {"messages": [{"role": "user", "content": VICTIM}], "temperature": 0},
        {
            "messages": [{"role": "user", "content": ATTACKER}],
            "me\u00dfages": [{"role": "user", "content": VICTIM}],
            "temperature": 0,
        },
    ),
    "generate-system": (
        "/api/generate",
        {"prompt": "Hi", "system": VICTIM, "options": {"temperature": 0}},
        {
            "prompt": "Hi",
            "system": ATTACKER,
            "sy\ufb06em": VICTIM,
            "options": {"temperature": 0},
        },
    ),
    "generate-suffix": (
        "/api/generate",
        {"prompt": "Hi", "suffix": VICTIM, "options": {"temperature": 0}},
        {
            "prompt": "Hi",
            "suffix": ATTACKER,
            "su\ufb03x": VICTIM,
            "options": {"temperature": 0},
        },
    ),
}


def post(gw, key, path, body):
    resp = requests.post(
        gw.url + path,
        json={"model": "llama3.2", "stream": False, **body},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    return resp


def stored(gw) -> int:
    """Entries in the live gateway's store, read from outside it."""
    with gw.app.app_context():
        return db.session.execute(db.select(db.func.count(CacheEntry.key))).scalar()


@pytest.mark.parametrize("case", CASES)
def test_a_planted_answer_is_never_a_victims_hit(shared, fake, case):
    path, victim_body, planting = CASES[case]
    mallory, alice = shared.key("mallory"), shared.key("alice")
    entries = stored(shared)
    assert (
        post(shared, mallory, path, planting).headers["X-Ollama-Gate-Cache"] == "miss"
    )
    ran = fake.requests_to(path, "POST")[-1].json
    assert ATTACKER in str(ran)  # what Ollama runs: the attacker's text
    settle(shared, entries + 1)  # the planted answer is stored
    before = len(fake.requests_to(path, "POST"))
    answer = post(shared, alice, path, victim_body)
    assert answer.headers["X-Ollama-Gate-Cache"] == "miss"  # never the planted hit
    assert len(fake.requests_to(path, "POST")) == before + 1
    asked = fake.requests_to(path, "POST")[-1].json
    assert VICTIM in str(asked) and ATTACKER not in str(asked)
    settle(shared, entries + 2)  # the victim's own answer: stored apart


def settle(gw, entries: int) -> None:
    """Wait until the store holds ``entries`` (answers are stored in the background)."""
    for _ in range(200):
        if stored(gw) >= entries:
            break
        time.sleep(0.05)
    assert stored(gw) == entries


def test_what_runs_on_a_miss_is_what_the_key_names(shared, fake):
    """A name given twice in the bytes: Python's parser keeps the last, Go merges two
    ``options`` maps (both apply). The cached call sends the payload its key names,
    so the planted ``num_predict`` never runs under the victim's key."""
    mallory, entries = shared.key("mallory"), stored(shared)
    question = [{"role": "user", "content": "A question asked twice over?"}]
    raw = (
        b'{"model":"llama3.2","stream":false,"options":{"num_predict":1},'
        b'"options":{"seed":7},"messages":' + json.dumps(question).encode() + b"}"
    )
    resp = requests.post(
        shared.url + "/api/chat",
        data=raw,
        headers={
            "Authorization": f"Bearer {mallory}",
            "Content-Type": "application/json",
        },
        timeout=10,
    )
    assert resp.headers["X-Ollama-Gate-Cache"] == "miss"
    sent = fake.requests_to("/api/chat", "POST")[-1].body
    names = json.loads(sent, object_pairs_hook=lambda pairs: [k for k, _ in pairs])
    assert names.count("options") == 1  # Go decodes one map: the key's
    assert json.loads(sent)["options"] == {"seed": 7}
    settle(shared, entries + 1)
