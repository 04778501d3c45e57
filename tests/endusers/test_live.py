"""Two Open WebUI users sharing one app key on a live gunicorn gateway: the fair queue
shares between people, not between apps; each has their own history and quota.

The fake Ollama has one slot (``--parallel 1``), so calls queue in the gateway. One
person floods it with 20 streams; the other's single call is granted before most of
the flood's queued calls. Through a key that is not an app key the same headers
mean nothing: the quiet person's call waits behind the whole flood. The test prints
both waits (figures, not assertions: the machine may be busy).
"""

from __future__ import annotations

import threading
import time

import requests

from ollama_gate.endusers.models import EndUser
from ollama_gate.extensions import db
from ollama_gate.history.models import Request
from tests.endusers.test_endusers import (
    ALICE,
    BOB,
    TITLE_PROMPT,
    chat_body,
    owui_headers,
)
from tests.helpers.live import LiveGateway, wait_for

FLOOD = 20


def new_key(gw: LiveGateway, user: str, *flags: str) -> str:
    """A key made with the CLI (``keys create USER [--app]``)."""
    gw.cli("users", "create", user)
    return gw.cli("keys", "create", user, *flags).stdout.strip().splitlines()[-1]


def waiting(gw: LiveGateway, key: str) -> int:
    ps = requests.get(
        gw.url + "/api/ps", headers={"Authorization": f"Bearer {key}"}, timeout=10
    ).json()["models"]
    return sum(m.get("waiting", 0) for m in ps if m["name"] == "llama3.2:latest")


def flood_then_one(gw: LiveGateway, gpu1, key: str) -> tuple[int, float]:
    """Alice sends FLOOD streams; once they queue, Bob sends one chat. Bob's place
    in the order the backend received the calls (1: next after the running one),
    and his wait in seconds as the client saw it."""
    gpu1.reset()
    gpu1.chunk_delay = 0.02
    statuses: list[int] = []

    def alice(i: int) -> None:
        with requests.post(
            gw.url + "/api/chat",
            json=chat_body(f"flood {i}", stream=True),
            headers=owui_headers(key, *ALICE, chat_id="chat-alice"),
            stream=True,
            timeout=120,
        ) as reply:
            for _ in reply.iter_content(None):
                pass
            statuses.append(reply.status_code)

    threads = [threading.Thread(target=alice, args=(i,)) for i in range(FLOOD)]
    for t in threads:
        t.start()
    assert wait_for(lambda: waiting(gw, key) >= FLOOD - 2)  # the flood is queued
    began = time.monotonic()
    bob = requests.post(
        gw.url + "/api/chat",
        json=chat_body("bob's question"),
        headers=owui_headers(key, *BOB, chat_id="chat-bob"),
        timeout=120,
    )
    bob_wait = time.monotonic() - began
    for t in threads:
        t.join(120)
    assert bob.status_code == 200 and statuses == [200] * FLOOD
    prompts = [
        r.json["messages"][0]["content"] for r in gpu1.requests if r.path == "/api/chat"
    ]
    return prompts.index("bob's question"), bob_wait


def test_two_open_webui_users_share_one_app_key_fairly(tmp_path, pool):
    gpu1 = pool[0]
    gw = LiveGateway(
        tmp_path, f"gpu1={gpu1.url}", env={"OLLAMA_GATE_HEALTH_INTERVAL": "0.3"}
    )
    gw.cli("init")
    gw.cli("backends", "set", "gpu1", "--parallel", "1")
    gw.start()
    try:
        app_key = new_key(gw, "webui", "--app")
        plain_key = new_key(gw, "script")  # the same headers, from a key not an app's
        fair_place, fair_wait = flood_then_one(gw, gpu1, app_key)
        fifo_place, fifo_wait = flood_then_one(gw, gpu1, plain_key)
        print(
            f"\nBob's wait behind Alice's {FLOOD} streams through one key: "
            f"{fair_wait:.2f} s ({fair_place} of hers served first) with per-person "
            f"fairness (app key), {fifo_wait:.2f} s ({fifo_place} of hers first) "
            "without (plain key)"
        )
        # fair: Bob is granted before most of the flood's queued calls
        assert fair_place <= 3, fair_place
        # without people, one owner: Bob waits behind the whole queued flood
        assert fifo_place >= FLOOD - 3, fifo_place

        # history: two people with their own prompts (the plain key's: nobody)
        def rows():
            with gw.app.app_context():
                found = db.session.execute(
                    db.select(Request.end_user_name, Request.prompt_text, Request.task)
                    .where(Request.endpoint == "/api/chat")
                    .order_by(Request.started_at)
                ).all()
                db.session.remove()
                return found

        assert wait_for(lambda: len(rows()) >= 2 * (FLOOD + 1), 30)
        named = [(who, text) for who, text, _ in rows() if who]
        assert ("Bob Müller", "bob's question") in named
        assert sum(1 for who, _ in named if who == "Alice Liddell") == FLOOD
        assert {who for who, _ in named} == {"Alice Liddell", "Bob Müller"}

        # a background task is recorded as one
        gpu1.reset()
        title = requests.post(
            gw.url + "/api/chat",
            json=chat_body(TITLE_PROMPT),
            headers=owui_headers(app_key, *BOB, chat_id="chat-bob"),
            timeout=30,
        )
        assert title.status_code == 200
        assert wait_for(lambda: any(task == "title" for _, _, task in rows()), 30)

        # per-person quota: each person's own, from the app key's defaults
        prefix = app_key[:11]
        gw.cli("endusers", "defaults", prefix, "--calls-per-day", str(FLOOD + 2))

        def ask(who) -> int:
            return requests.post(
                gw.url + "/api/chat",
                json=chat_body("one more"),
                headers=owui_headers(app_key, *who),
                timeout=30,
            ).status_code

        # Alice has used FLOOD calls: two more, then refused; Bob (2 used) goes on
        assert [ask(ALICE) for _ in range(3)] == [200, 200, 429]
        assert [ask(BOB) for _ in range(3)] == [200, 200, 200]
        with gw.app.app_context():
            names = sorted(
                db.session.execute(
                    db.select(EndUser.name).where(EndUser.external_id != "*")
                ).scalars()
            )
            db.session.remove()
        assert names == ["Alice Liddell", "Bob Müller"]
    finally:
        gw.stop()
