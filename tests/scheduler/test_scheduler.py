"""The scheduler through the app: a backend's slots are never exceeded, the queue is
fair across keys and bounded, conversations keep their backend, and each model's
num_ctx and keep_alive policy reaches the backend."""

from __future__ import annotations

import threading
import time

import pytest

from ollama_gate.extensions import db
from ollama_gate.routing.manage import set_backend
from ollama_gate.scheduler.manage import set_policy
from tests.helpers.keys import add_key
from tests.routing.test_routing import make_fleet_app


def one_backend(tmp_path, pool, parallel: int | None = None, **settings):
    """A fleet of gpu1 alone (llama3.2), with ``parallel`` slots per model."""
    app = make_fleet_app(
        tmp_path, pool[:1], BACKENDS=[f"gpu1={pool[0].url}"], **settings
    )
    if parallel:
        with app.app_context():
            set_backend(app.config["GATE"], "gpu1", parallel=parallel)
        app.extensions["ollama_gate"].checker.check_due(force=True)
    return app


def generate(app, key, prompt="x", headers=None, **body):
    return app.test_client().post(
        "/api/generate",
        json={"model": "llama3.2", "prompt": prompt, "stream": False, **body},
        headers={"Authorization": f"Bearer {key}", **(headers or {})},
    )


def in_threads(fns) -> list[threading.Thread]:
    threads = [threading.Thread(target=fn) for fn in fns]
    for t in threads:
        t.start()
    return threads


def test_a_backend_never_runs_more_than_its_slots(tmp_path, pool):
    gpu1 = pool[0]
    app = one_backend(tmp_path, pool, parallel=2)
    key = add_key(app)
    gpu1.chunk_delay = 0.02  # each call runs a while (8 tokens)
    gpu1.parallel = 100  # the fake counts what runs at once (and would run it all)
    statuses = []
    threads = in_threads([lambda: statuses.append(generate(app, key).status_code)] * 10)
    for t in threads:
        t.join(30)
    assert statuses == [200] * 10  # every call waited its turn in the gateway
    assert gpu1.peak_running == {"llama3.2:latest": 2}  # never more than its slots
    routing = app.extensions["ollama_gate"].sched.scheduler
    assert routing.running("gpu1", "llama3.2") == 0  # every slot came back


def test_one_keys_burst_does_not_delay_another_keys_call(tmp_path, pool):
    """With one slot, key B's single call goes next, not after key A's whole burst."""
    gpu1 = pool[0]
    app = one_backend(tmp_path, pool, parallel=1)
    burst_key, other_key = add_key(app, "burst"), add_key(app, "other")
    gpu1.chunk_delay = 0.03
    finished: list[str] = []
    lock = threading.Lock()

    def call(key, who):
        assert generate(app, key, who).status_code == 200
        with lock:
            finished.append(who)

    burst = in_threads([lambda i=i: call(burst_key, f"a{i}") for i in range(8)])
    queue = app.extensions["ollama_gate"].sched.scheduler.queue
    deadline = time.monotonic() + 10
    while sum(queue.waiting().values()) < 7 and time.monotonic() < deadline:
        time.sleep(0.01)  # the burst is queued behind its first call
    other = in_threads([lambda: call(other_key, "b")])
    for t in burst + other:
        t.join(30)
    # FIFO would finish b last (9th); fair shares let it in next, as the 2nd or 3rd
    assert finished.index("b") <= 2, finished


def test_the_queue_timeout_gives_503_and_nothing_reaches_the_backend(tmp_path, pool):
    gpu1 = pool[0]
    app = one_backend(tmp_path, pool, parallel=1, QUEUE_TIMEOUT=0.3)
    key = add_key(app)
    gpu1.hold_second_chunk = True
    held = in_threads([lambda: generate(app, key, stream=True).get_data()])
    assert gpu1.first_chunk_sent.wait(10)
    resp = generate(app, key, "waits too long")
    assert resp.status_code == 503
    assert resp.headers["Retry-After"]
    assert "queue timeout" in resp.get_json()["error"]
    gpu1.release.set()
    held[0].join(10)
    prompts = [r.json["prompt"] for r in gpu1.requests if r.path == "/api/generate"]
    assert prompts == ["x"]  # the call that timed out never reached the backend


def test_a_full_queue_refuses_at_once(tmp_path, pool):
    gpu1 = pool[0]
    app = one_backend(tmp_path, pool, parallel=1, QUEUE_MAX=1, QUEUE_TIMEOUT=10)
    key = add_key(app)
    gpu1.hold_second_chunk = True
    threads = in_threads([lambda: generate(app, key, stream=True).get_data()])
    assert gpu1.first_chunk_sent.wait(10)
    threads += in_threads([lambda: generate(app, key, "waiting")])
    queue = app.extensions["ollama_gate"].sched.scheduler.queue
    deadline = time.monotonic() + 10
    while not queue.waiting() and time.monotonic() < deadline:
        time.sleep(0.01)
    resp = generate(app, key, "one too many")
    assert resp.status_code == 503 and "queue is full" in resp.get_json()["error"]
    gpu1.release.set()
    for t in threads:
        t.join(10)
    v1 = app.test_client().post(
        "/v1/chat/completions",
        json={"model": "llama3.2", "messages": [{"role": "user", "content": "x"}]},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert v1.status_code == 200  # the queue is empty again


def test_a_conversation_keeps_its_backend_and_new_ones_spread(tmp_path, pool):
    pool[0].loaded = ["llama3.2:latest"]  # gpu1 and gpu2 equal for llama3.2
    app = make_fleet_app(tmp_path, pool)
    key, client = add_key(app), app.test_client()
    homes = {}
    for c in range(12):
        messages = [{"role": "user", "content": f"conversation {c}"}]
        backends = set()
        for turn in range(4):
            resp = client.post(
                "/api/chat",
                json={"model": "llama3.2", "messages": messages, "stream": False},
                headers={"Authorization": f"Bearer {key}"},
            )
            backends.add(resp.headers["X-Ollama-Gate-Backend"])
            messages += [
                resp.get_json()["message"],
                {"role": "user", "content": f"turn {turn}"},
            ]
        assert len(backends) == 1  # every turn on the backend of the first
        homes[c] = backends.pop()
    assert set(homes.values()) == {"gpu1", "gpu2"}  # conversations still spread


def test_a_session_header_keeps_generate_calls_together(tmp_path, pool):
    pool[0].loaded = ["llama3.2:latest"]
    app = make_fleet_app(tmp_path, pool)
    key, client = add_key(app), app.test_client()
    seen = {
        client.post(
            "/api/generate",
            json={"model": "llama3.2", "prompt": f"p{i}", "stream": False},
            headers={"Authorization": f"Bearer {key}", "X-Ollama-Gate-Session": "s1"},
        ).headers["X-Ollama-Gate-Backend"]
        for i in range(10)
    }
    assert len(seen) == 1


@pytest.mark.parametrize("enforced", [False, True])
def test_num_ctx_and_keep_alive_policy(tmp_path, pool, enforced):
    gpu1 = pool[0]
    app = one_backend(tmp_path, pool)
    with app.app_context():
        set_policy(
            "llama3.2",
            num_ctx=8192,
            num_ctx_enforced=enforced,
            keep_alive="1h",
            keep_alive_enforced=enforced,
        )
    app.extensions["ollama_gate"].checker.check_due(force=True)
    key = add_key(app)
    assert generate(app, key).status_code == 200
    assert (
        generate(app, key, options={"num_ctx": 2048}, keep_alive="5m").status_code
        == 200
    )
    first, second = [r.json for r in gpu1.requests if r.path == "/api/generate"]
    assert first["options"] == {"num_ctx": 8192} and first["keep_alive"] == "1h"
    assert "keep_alive" not in first.get("options", {})  # top-level, never in options
    if enforced:
        assert second["options"]["num_ctx"] == 8192 and second["keep_alive"] == "1h"
    else:
        assert second["options"]["num_ctx"] == 2048 and second["keep_alive"] == "5m"


def test_policies_are_checked_and_audited(tmp_path, pool):
    app = one_backend(tmp_path, pool)
    run = app.test_cli_runner().invoke
    out = run(
        args=["models", "set", "llama3.2", "--num-ctx", "8192", "--keep-alive", "30m"]
    )
    assert out.exit_code == 0, out.output
    assert "num_ctx=8192" in run(args=["models", "list"]).output
    bad = run(args=["models", "set", "llama3.2", "--keep-alive", "soon"])
    assert bad.exit_code != 0 and "duration" in bad.output
    assert (
        run(
            args=["models", "set", "llama3.2", "--num-ctx", "0", "--keep-alive", ""]
        ).exit_code
        == 0
    )
    assert "no model has a policy" in run(args=["models", "list"]).output
    from ollama_gate.audit import AuditLog

    with app.app_context():
        details = [
            r.detail
            for r in db.session.execute(db.select(AuditLog)).scalars()
            if r.action == "model_policy_set"
        ]
    assert details == [  # the fields that changed, as every audit entry names them
        "num_ctx: none → 8192, keep_alive: none → 30m",
        "num_ctx: 8192 → none, keep_alive: 30m → none",
    ]


def test_a_heavier_key_gets_its_share_of_the_slots(tmp_path, pool):
    """Weight 3 against weight 1, both keys bursting on one slot: about 3 turns to 1."""
    gpu1 = pool[0]
    app = one_backend(tmp_path, pool, parallel=1)
    heavy, light = add_key(app, "heavy", queue_weight=3), add_key(app, "light")
    gpu1.chunk_delay = 0.02
    gpu1.hold_second_chunk = True  # the first call holds the slot while both queue up
    order: list[str] = []
    lock = threading.Lock()

    def call(key, who):
        assert generate(app, key, who, stream=True).status_code == 200
        with lock:
            order.append(who)

    first = in_threads([lambda: call(light, "first")])
    assert gpu1.first_chunk_sent.wait(10)
    rest = in_threads(
        [lambda i=i: call(heavy, f"h{i}") for i in range(8)]
        + [lambda i=i: call(light, f"l{i}") for i in range(8)]
    )
    queue = app.extensions["ollama_gate"].sched.scheduler.queue
    deadline = time.monotonic() + 10
    while sum(queue.waiting().values()) < 16 and time.monotonic() < deadline:
        time.sleep(0.01)
    gpu1.hold_second_chunk = False
    gpu1.release.set()
    for t in first + rest:
        t.join(30)
    assert len(order) == 17, order
    # the turns as the backend received them (the order calls end in may differ on
    # a loaded machine: a thread appends after its answer is read)
    turns = [
        q.json["prompt"]
        for q in gpu1.requests
        if q.path == "/api/generate" and q.json.get("prompt") != "first"
    ]
    served = turns[:8]  # the first eight turns after the held call
    assert sum(w.startswith("h") for w in served) >= 5, turns
    assert any(w.startswith("l") for w in served), turns  # the light key still moves


def test_a_calls_wait_is_recorded_and_on_the_dashboard(tmp_path, pool):
    from ollama_gate.history.models import Request
    from tests.helpers.admin import login, make_admin

    gpu1 = pool[0]
    app = one_backend(tmp_path, pool, parallel=1)
    key = add_key(app)
    gpu1.hold_second_chunk = True
    threads = in_threads([lambda: generate(app, key, "held", stream=True).get_data()])
    assert gpu1.first_chunk_sent.wait(10)
    threads += in_threads([lambda: generate(app, key, "waits")])
    queue = app.extensions["ollama_gate"].sched.scheduler.queue
    deadline = time.monotonic() + 10
    while not queue.waiting() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)  # it waits a while
    gpu1.release.set()
    for t in threads:
        t.join(10)
    app.extensions["ollama_gate"].recorder.flush()
    with app.app_context():
        rows = db.session.execute(db.select(Request)).scalars().all()
        waited = {r.prompt_text: r.queue_ms for r in rows}
    assert waited["held"] is None and waited["waits"] >= 100
    make_admin(app)
    client = app.test_client()
    login(client)
    page = client.get("/history/dashboard?range=24h").get_data(as_text=True)
    section = page[page.index("Waits for a backend slot") :]
    assert "model llama3.2" in section and "backend gpu1" in section
