"""Priority bands, admission caps at every level of a call's chain, and the queue
shown: a waiting interactive call goes before every batch call, an old batch call
counts as interactive, a team's cap refuses with 503 and Retry-After, a call that
waited says how long, and ``/api/ps`` shows the queue per model and band."""

from __future__ import annotations

import re

from ollama_gate.audit import AuditLog
from ollama_gate.extensions import db
from ollama_gate.models import ApiKey, Team, User
from tests.helpers.admin import login, make_admin
from tests.helpers.keys import add_key
from tests.scheduler.test_bounds import (
    assert_refused,
    hold_the_slot,
    prompts,
    queue_of,
    wait_until,
    waiting,
)
from tests.scheduler.test_scheduler import generate, one_backend

PRIORITY = "X-Ollama-Gate-Priority"


def in_team(app, team: str, *users: str, **settings) -> None:
    """Put ``users`` (made already, by their keys) in a new team."""
    with app.app_context():
        row = Team(name=team, **settings)
        db.session.add(row)
        for name in users:
            db.session.execute(
                db.select(User).where(User.name == name)
            ).scalar_one().team = row
        db.session.commit()


def release(gpu1, calls) -> None:
    gpu1.hold_second_chunk = False
    gpu1.release.set()
    calls.join()


def test_an_interactive_call_goes_before_twenty_waiting_batch_calls(tmp_path, pool):
    gpu1 = pool[0]
    app = one_backend(tmp_path, pool, parallel=1, QUEUE_TIMEOUT=60)
    bulk = add_key(app, "bulk", priority="batch")
    chat = add_key(app, "chat")
    calls = hold_the_slot(app, gpu1, chat)
    for i in range(20):
        calls.queue(bulk, f"b{i}")
    assert queue_of(app).summary()["models"] == [
        {"model": "llama3.2:latest", "interactive": 0, "batch": 20}
    ]
    calls.queue(chat, "now")
    release(gpu1, calls)
    assert all(r.status_code == 200 for r in calls.answers.values())
    order = prompts(gpu1)
    assert order[:2] == ["held", "now"]  # granted next, before every batch call
    assert order[2:] == [f"b{i}" for i in range(20)]  # batch in its fair order


def test_an_old_batch_call_counts_as_interactive(tmp_path, pool):
    """Past BATCH_MAX_WAIT a batch call competes as interactive: it is older."""
    gpu1 = pool[0]
    app = one_backend(tmp_path, pool, parallel=1, QUEUE_TIMEOUT=60, BATCH_MAX_WAIT=0.3)
    bulk, chat = add_key(app, "bulk"), add_key(app, "chat")
    calls = hold_the_slot(app, gpu1, chat)
    calls.queue(bulk, "old", headers={PRIORITY: "batch"})
    queue = queue_of(app)
    assert queue.bands()[("llama3.2:latest", 1)] == 1
    assert wait_until(lambda: queue.bands()[("llama3.2:latest", 0)] == 1)  # aged
    calls.queue(chat, "new")
    release(gpu1, calls)
    assert prompts(gpu1) == ["held", "old", "new"]


def test_a_header_cannot_raise_a_batch_key_and_a_bad_one_is_refused(tmp_path, pool):
    gpu1 = pool[0]
    app = one_backend(tmp_path, pool, parallel=1, QUEUE_TIMEOUT=60)
    bulk = add_key(app, "bulk", priority="batch")
    chat = add_key(app, "chat")
    calls = hold_the_slot(app, gpu1, chat)
    calls.queue(bulk, "b0")
    calls.queue(bulk, "asks", headers={PRIORITY: "interactive"})  # ignored
    assert queue_of(app).bands()[("llama3.2:latest", 1)] == 2
    bad = generate(app, chat, "bad", headers={PRIORITY: "urgent"})
    assert bad.status_code == 400 and PRIORITY in bad.get_json()["error"]
    calls.queue(chat, "lowered", headers={PRIORITY: "batch"})  # lowering: allowed
    calls.queue(chat, "plain")
    release(gpu1, calls)
    assert prompts(gpu1) == ["held", "plain", "b0", "asks", "lowered"]
    assert "bad" not in prompts(gpu1)


def test_a_peers_offload_waits_behind_local_callers(tmp_path, pool):
    gpu1 = pool[0]
    app = one_backend(tmp_path, pool, parallel=1, QUEUE_TIMEOUT=60)
    peer, local = add_key(app, "peer"), add_key(app, "local")
    calls = hold_the_slot(app, gpu1, local)
    calls.queue(peer, "offload", headers={"X-Ollama-Gate-Hops": "1"})
    assert queue_of(app).bands()[("llama3.2:latest", 1)] == 1
    calls.queue(local, "mine")
    release(gpu1, calls)
    assert prompts(gpu1) == ["held", "mine", "offload"]


def test_a_teams_cap_counts_its_members_together(tmp_path, pool):
    gpu1 = pool[0]
    app = one_backend(tmp_path, pool, parallel=1, QUEUE_TIMEOUT=60)
    ann, ben, other = add_key(app, "ann"), add_key(app, "ben"), add_key(app, "zoe")
    in_team(app, "ml", "ann", "ben", queue_max=2)
    calls = hold_the_slot(app, gpu1, other)
    calls.queue(ann, "a0")
    calls.queue(ben, "b0")
    refused = generate(app, ann, "a1")
    assert_refused(refused, "team 'ml' has 2 calls waiting")
    v1 = app.test_client().post(
        "/v1/chat/completions",
        json={"model": "llama3.2", "messages": [{"role": "user", "content": "b1"}]},
        headers={"Authorization": f"Bearer {ben}"},
    )
    assert v1.status_code == 503 and int(v1.headers["Retry-After"]) > 0
    assert "team 'ml'" in v1.get_json()["error"]["message"]  # OpenAI's shape
    calls.queue(other, "z0")  # outside the team: room
    release(gpu1, calls)
    assert sorted(prompts(gpu1)) == ["a0", "b0", "held", "z0"]


def test_a_call_that_waited_says_how_long_and_ps_shows_the_queue(tmp_path, pool):
    gpu1 = pool[0]
    app = one_backend(tmp_path, pool, parallel=1, QUEUE_TIMEOUT=60)
    key = add_key(app, "alice")
    calls = hold_the_slot(app, gpu1, key)
    calls.queue(key, "w0")
    calls.queue(key, "w1", headers={PRIORITY: "batch"}, stream=True)  # a stream
    ps = app.test_client().get("/api/ps", headers={"Authorization": f"Bearer {key}"})
    assert ps.status_code == 200
    assert ps.get_json()["queue"] == {
        "waiting": 2,
        "models": [{"model": "llama3.2:latest", "interactive": 1, "batch": 1}],
    }
    assert waiting(app) == 2
    admin = app.test_client()
    make_admin(app)
    login(admin)
    page = admin.get("/admin/backends").get_data(as_text=True)
    row = re.search(r'<td data-label="Model">llama3\.2:latest</td>.*?</tr>', page, re.S)
    assert row, page
    cells = dict(re.findall(r'data-label="([^"]+)">([^<]*)<', row.group(0)))
    assert (cells["Waiting now"], cells["Interactive"], cells["Batch"]) == (
        "2",
        "1",
        "1",
    )
    release(gpu1, calls)
    held = calls.answers["held"]
    assert "X-Ollama-Gate-Queue-Ms" not in held.headers  # it never waited
    waited = [
        int(calls.answers[n].headers["X-Ollama-Gate-Queue-Ms"]) for n in ("w0", "w1")
    ]
    assert 0 < waited[0] <= waited[1] < 60_000  # w1 waited for w0 too
    assert calls.answers["w1"].content_type == "application/x-ndjson"


def test_priority_and_caps_are_set_from_the_cli_and_audited(tmp_path, pool):
    app = one_backend(tmp_path, pool)
    runner = app.test_cli_runner()
    prefix = add_key(app, "alice")[:11]
    out = runner.invoke(args=["keys", "set", prefix, "--priority", "batch"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(args=["teams", "create", "ml", "--queue-max", "3"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(args=["teams", "set", "ml", "--priority", "urgent"])
    assert out.exit_code != 0 and "interactive, batch" in out.output
    with app.app_context():
        key = db.session.execute(db.select(ApiKey)).scalar_one()
        team = db.session.execute(db.select(Team)).scalar_one()
        assert (key.priority, team.queue_max, team.priority) == ("batch", 3, None)
        details = db.session.execute(db.select(AuditLog.detail)).scalars().all()
    assert any("priority: none → batch" in (d or "") for d in details)
