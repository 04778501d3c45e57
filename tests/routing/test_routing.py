"""Many backends behind one address: calls land where their model is, aliases are
rewritten both ways, the loaded and the least busy backend is preferred, a backend
that is down or busy is failed over, and the fleet's lists are merged exactly."""

from __future__ import annotations

import json

import pytest
from flask import Flask

from ollama_gate import create_app
from ollama_gate.extensions import db
from ollama_gate.history.models import Request
from tests.helpers.keys import add_key

NAMES = ("gpu1", "gpu2", "gpu3")


def make_fleet_app(tmp_path, pool, **settings) -> Flask:
    """A gateway over the three fakes, named gpu1..gpu3."""
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'gate.db'}",
            "BACKENDS": [f"{n}={f.url}" for n, f in zip(NAMES, pool, strict=False)],
            "KEY_CACHE_SECONDS": 0.0,
            "HEALTH_INTERVAL": 0.2,
            **settings,
        }
    )
    with app.app_context():
        db.create_all()
    return app


@pytest.fixture()
def fleet_app(tmp_path, pool):
    app = make_fleet_app(tmp_path, pool, ALIASES=["gpt-4o=llama3.2", "fast=phi3:mini"])
    yield app
    app.extensions["ollama_gate"].recorder.flush()
    with app.app_context():
        db.engine.dispose()


def calls_to(fake, path="/api/"):
    """The inference calls ``fake`` received under ``path``."""
    return [r for r in fake.requests if r.method == "POST" and r.path.startswith(path)]


def chat(client, key, model, content="hi", **body):
    """A one-turn chat (a new conversation per ``content``: affinity keeps a
    conversation on its backend)."""
    return client.post(
        "/api/chat",
        json={
            "model": model,
            "messages": [{"role": "user", "content": content}],
            **body,
        },
        headers={"Authorization": f"Bearer {key}"},
    )


def records(app) -> list[Request]:
    app.extensions["ollama_gate"].recorder.flush()
    with app.app_context():
        return list(db.session.execute(db.select(Request)).scalars())


def test_calls_land_where_the_model_is(fleet_app, pool):
    client, key = fleet_app.test_client(), add_key(fleet_app)
    gpu1, gpu2, gpu3 = pool
    for model, home, header in (
        ("qwen2.5:7b", gpu1, "gpu1"),
        ("llama3:70b", gpu2, "gpu2"),
        ("phi3:mini", gpu3, "gpu3"),
    ):
        resp = chat(client, key, model, stream=False)
        assert resp.status_code == 200, resp.get_data()
        assert resp.headers["X-Ollama-Gate-Backend"] == header
        assert [r.json["model"] for r in calls_to(home, "/api/chat")] == [model]
    assert [r.backend for r in records(fleet_app)] == ["gpu1", "gpu2", "gpu3"]


def test_names_match_as_ollama_matches_them(fleet_app, pool):
    """Case and the default tag are matched; a tag is never taken for another."""
    client, key = fleet_app.test_client(), add_key(fleet_app)
    gpu1, gpu2, _ = pool
    assert (
        chat(client, key, "QWEN2.5:7B", stream=False).headers["X-Ollama-Gate-Backend"]
        == "gpu1"
    )
    resp = client.post(
        "/api/embed",
        json={"model": "Nomic-Embed-Text:latest", "input": "x"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert resp.status_code == 200 and resp.headers["X-Ollama-Gate-Backend"] == "gpu2"
    for _ in range(5):  # llama3:70b lives on gpu2 only, llama3:8b on gpu1 only
        assert (
            chat(client, key, "llama3:70b", stream=False).headers[
                "X-Ollama-Gate-Backend"
            ]
            == "gpu2"
        )
        assert (
            chat(client, key, "llama3:8b", stream=False).headers[
                "X-Ollama-Gate-Backend"
            ]
            == "gpu1"
        )


def test_a_model_nowhere_gets_ollamas_own_404_from_the_default_backend(fleet_app, pool):
    client, key = fleet_app.test_client(), add_key(fleet_app)
    resp = chat(client, key, "mistral:7b", stream=False)
    assert resp.status_code == 404
    assert "not found" in resp.get_json()["error"]
    assert resp.headers["X-Ollama-Gate-Backend"] == "gpu1"


def test_a_model_pulled_a_moment_ago_is_found_at_once(fleet_app, pool):
    """A name no backend is known to serve makes the gateway look again."""
    client, key = fleet_app.test_client(), add_key(fleet_app)
    assert chat(client, key, "phi3:mini", stream=False).status_code == 200
    pool[1].add_model("gemma3:1b")  # pulled on gpu2 outside the gateway
    fleet_app.extensions["ollama_gate"].checker.refreshed_at = 0.0
    resp = chat(client, key, "gemma3:1b", stream=False)
    assert resp.status_code == 200
    assert resp.headers["X-Ollama-Gate-Backend"] == "gpu2"


@pytest.mark.parametrize(
    "framing", ["native-whole", "native-stream", "v1-whole", "v1-sse"]
)
def test_an_alias_is_rewritten_both_ways(fleet_app, pool, framing):
    client, key = fleet_app.test_client(), add_key(fleet_app)
    auth = {"Authorization": f"Bearer {key}"}
    stream = framing.endswith(("stream", "sse"))
    messages = [{"role": "user", "content": "hi"}]
    if framing.startswith("native"):
        resp = client.post(
            "/api/chat",
            json={"model": "gpt-4o", "messages": messages, "stream": stream},
            headers=auth,
        )
    else:
        resp = client.post(
            "/v1/chat/completions",
            json={"model": "gpt-4o", "messages": messages, "stream": stream},
            headers=auth,
        )
    body = resp.get_data()
    assert resp.status_code == 200, body
    assert b"llama3.2" not in body  # the client never sees the model behind
    if framing == "native-whole":
        assert json.loads(body)["model"] == "gpt-4o"
    elif framing == "native-stream":
        lines = [json.loads(line) for line in body.splitlines() if line]
        assert len(lines) > 2 and {line["model"] for line in lines} == {"gpt-4o"}
    elif framing == "v1-whole":
        assert json.loads(body)["model"] == "gpt-4o"
    else:
        events = [
            json.loads(e[6:]) for e in body.decode().split("\n\n") if e[6:12] == "{"
        ] or [
            json.loads(e[len("data: ") :])
            for e in body.decode().split("\n\n")
            if e.startswith("data: {")
        ]
        assert len(events) > 2 and {e["model"] for e in events} == {"gpt-4o"}
    sent = [r.json for f in pool for r in calls_to(f, "/")]
    assert [s["model"] for s in sent] == ["llama3.2"]
    (rec,) = records(fleet_app)
    assert (rec.model, rec.upstream_model) == ("gpt-4o", "llama3.2")


def test_an_alias_is_listed_and_judged_by_the_allowlist(fleet_app, pool):
    client = fleet_app.test_client()
    key = add_key(fleet_app, model_allowlist="fast")
    auth = {"Authorization": f"Bearer {key}"}
    assert chat(client, key, "fast", stream=False).status_code == 200
    assert chat(client, key, "phi3:mini", stream=False).status_code == 403
    names = [
        m["name"] for m in client.get("/api/tags", headers=auth).get_json()["models"]
    ]
    assert names == ["fast"]  # as the admin wrote it


def test_the_backend_with_the_model_loaded_is_preferred(fleet_app, pool):
    client, key = fleet_app.test_client(), add_key(fleet_app)
    for _ in range(6):  # llama3.2 is on gpu1 and gpu2, loaded on gpu2 only
        resp = chat(client, key, "llama3.2", stream=False)
        assert resp.headers["X-Ollama-Gate-Backend"] == "gpu2"


def test_load_spreads_across_equal_backends(fleet_app, pool):
    pool[0].loaded = ["llama3.2:latest"]  # now gpu1 and gpu2 are equal for llama3.2
    client, key = fleet_app.test_client(), add_key(fleet_app)
    seen = {
        chat(client, key, "llama3.2", f"q{i}", stream=False).headers[
            "X-Ollama-Gate-Backend"
        ]
        for i in range(40)
    }
    assert seen == {"gpu1", "gpu2"}


def test_the_least_busy_backend_is_chosen(fleet_app, pool):
    """Two streams held open on one backend: the next call goes to the other."""
    pool[1].loaded = []
    app = fleet_app
    routing = next(
        s for s in app.extensions["ollama_gate"].pipeline.stages if s.name == "routing"
    )
    routing.slots.acquire("gpu1", 10**9)
    routing.slots.acquire("gpu1", 10**9)
    client, key = app.test_client(), add_key(app)
    for _ in range(5):
        assert (
            chat(client, key, "llama3.2", stream=False).headers["X-Ollama-Gate-Backend"]
            == "gpu2"
        )


def test_in_flight_counts_return_to_zero_after_a_storm(fleet_app, pool):
    pool[1].loaded = []
    app = fleet_app
    routing = next(
        s for s in app.extensions["ollama_gate"].pipeline.stages if s.name == "routing"
    )
    client, key = app.test_client(), add_key(app)
    for i in range(30):
        kind = i % 5
        if kind == 0:  # an upstream error
            for f in pool[:2]:
                f.next_status = (500, {"error": "boom"})
            chat(client, key, "llama3.2", stream=False)
            for f in pool[:2]:
                f.next_status = None
        elif kind == 1:  # a client that hangs up after the first piece
            resp = chat(client, key, "llama3.2", stream=True)
            next(iter(resp.response))
            resp.close()
        elif kind == 2:  # a stream cut by the upstream
            for f in pool[:2]:
                f.fail_mid_stream_after = 2
            chat(client, key, "llama3.2", stream=True).get_data()
            for f in pool[:2]:
                f.fail_mid_stream_after = None
        elif kind == 3:  # refused before any backend (unknown key)
            chat(client, "og_wrong", "llama3.2")
        else:
            chat(client, key, "llama3.2", stream=True).get_data()
    assert {n: routing.slots.in_flight(n) for n in NAMES} == dict.fromkeys(NAMES, 0)


def test_a_backend_that_dies_is_failed_over_and_used_again_when_back(fleet_app, pool):
    gpu1, gpu2, _ = pool
    gpu2.loaded = []
    client, key = fleet_app.test_client(), add_key(fleet_app)
    assert chat(client, key, "llama3.2", stream=False).status_code == 200
    gpu2.stop()
    for _ in range(8):  # none fails: a call that finds gpu2 gone moves on to gpu1
        resp = chat(client, key, "llama3.2", stream=False)
        assert resp.status_code == 200
        assert resp.headers["X-Ollama-Gate-Backend"] == "gpu1"
    fleet = fleet_app.extensions["ollama_gate"].fleet
    assert fleet.get("gpu2").healthy is False
    assert "refused" in fleet.get("gpu2").last_error
    gpu2.start()
    gpu2.loaded = ["llama3.2:latest"]  # as gpu1 has it by now: the two are equal
    fleet.get("gpu2").next_check = 0.0  # its next check is due
    seen = {
        chat(client, key, "llama3.2", f"q{i}", stream=False).headers[
            "X-Ollama-Gate-Backend"
        ]
        for i in range(30)  # both have it loaded now: new conversations spread again
    }
    assert seen == {"gpu1", "gpu2"}
    assert fleet.get("gpu2").healthy is True


def test_server_busy_fails_over_and_a_4xx_never_does(fleet_app, pool):
    gpu1, gpu2, _ = pool
    client, key = fleet_app.test_client(), add_key(fleet_app)
    gpu2.busy = True  # preferred (loaded) but its queue is full
    resp = chat(client, key, "llama3.2", stream=False)
    assert resp.status_code == 200
    assert resp.headers["X-Ollama-Gate-Backend"] == "gpu1"
    assert len(calls_to(gpu2, "/api/chat")) == 1
    gpu2.busy = False
    gpu2.next_status = (400, {"error": "invalid options"})
    resp = chat(client, key, "llama3.2", "a new conversation", stream=False)
    assert resp.status_code == 400
    assert len(calls_to(gpu1, "/api/chat")) == 1  # not tried again elsewhere


def test_no_backend_left_is_a_503_naming_the_model_and_why(fleet_app, pool):
    gpu1, gpu2, _ = pool
    client, key = fleet_app.test_client(), add_key(fleet_app)
    gpu1.busy = gpu2.busy = True
    resp = chat(client, key, "llama3.2", stream=False)
    assert resp.status_code == 503
    message = resp.get_json()["error"]
    assert "llama3.2" in message and "server busy" in message
    assert "gpu1" in message and "gpu2" in message
    assert resp.headers["Retry-After"]
    resp = client.post(
        "/v1/chat/completions",
        json={"model": "llama3.2", "messages": [{"role": "user", "content": "x"}]},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert resp.status_code == 503
    assert "llama3.2" in resp.get_json()["error"]["message"]


def test_a_pooled_connection_closed_by_the_backend_is_retried(fleet_app, pool):
    """The keep-alive race: the backend closed an idle connection the pool kept."""
    client, key = fleet_app.test_client(), add_key(fleet_app)
    assert chat(client, key, "phi3:mini", stream=False).status_code == 200
    pool[2].close_connections()
    resp = chat(client, key, "phi3:mini", stream=False)
    assert resp.status_code == 200
    assert resp.headers["X-Ollama-Gate-Backend"] == "gpu3"
    assert fleet_app.extensions["ollama_gate"].fleet.get("gpu3").healthy is True


def test_merged_lists_are_exact(fleet_app, pool):
    client, key = fleet_app.test_client(), add_key(fleet_app)
    auth = {"Authorization": f"Bearer {key}"}
    tags = client.get("/api/tags", headers=auth).get_json()["models"]
    names = [m["name"] for m in tags]
    assert sorted(names) == sorted(
        [
            "llama3.2:latest",
            "qwen2.5:7b",
            "llama3:8b",
            "nomic-embed-text:latest",
            "llama3:70b",
            "phi3:mini",
            "gpt-4o",
            "fast",
        ]
    )
    assert len(names) == len(set(names))  # each model once
    v1 = client.get("/v1/models", headers=auth).get_json()
    assert v1["object"] == "list"
    assert sorted(m["id"] for m in v1["data"]) == sorted(names)
    ps = client.get("/api/ps", headers=auth).get_json()["models"]
    assert [(m["name"], m["backend"]) for m in ps] == [("llama3.2:latest", "gpu2")]
    assert client.get("/api/version", headers=auth).get_json() == {"version": "0.9.6"}
    assert client.get("/").get_data() == b"Ollama is running"


def test_an_empty_fleet_lists_no_models_as_an_empty_list(tmp_path, pool):
    for f in pool:
        f.models = []
    app = make_fleet_app(tmp_path, pool)
    key = add_key(app)
    resp = app.test_client().get(
        "/v1/models", headers={"Authorization": f"Bearer {key}"}
    )
    assert resp.get_json() == {"object": "list", "data": []}


def test_management_goes_to_the_default_or_the_named_backend(fleet_app, pool):
    client = fleet_app.test_client()
    manager = add_key(fleet_app, "ops", scopes="manage")
    plain = add_key(fleet_app, "bob")
    body = {"model": "tinyllama", "stream": False}
    resp = client.post(
        "/api/pull", json=body, headers={"Authorization": f"Bearer {manager}"}
    )
    assert resp.status_code == 200
    assert resp.headers["X-Ollama-Gate-Backend"] == "gpu1"
    resp = client.post(
        "/api/pull",
        json=body,
        headers={"Authorization": f"Bearer {manager}", "X-Ollama-Gate-Backend": "gpu3"},
    )
    assert resp.headers["X-Ollama-Gate-Backend"] == "gpu3"
    assert pool[2].find_model("tinyllama") is not None
    assert "x-ollama-gate-backend" not in calls_to(pool[2], "/api/pull")[0].headers
    resp = client.post(
        "/api/chat",
        json={"model": "llama3.2", "messages": []},
        headers={"Authorization": f"Bearer {plain}", "X-Ollama-Gate-Backend": "gpu3"},
    )
    assert resp.status_code == 403 and "manage" in resp.get_json()["error"]
    resp = client.post(
        "/api/pull",
        json=body,
        headers={"Authorization": f"Bearer {manager}", "X-Ollama-Gate-Backend": "nope"},
    )
    assert resp.status_code == 400


def test_a_route_pins_a_model_to_named_backends(tmp_path, pool):
    app = make_fleet_app(tmp_path, pool, ROUTES=["llama3.2=gpu1"])
    client, key = app.test_client(), add_key(app)
    for _ in range(4):  # loaded on gpu2, but pinned to gpu1
        assert (
            chat(client, key, "llama3.2", stream=False).headers["X-Ollama-Gate-Backend"]
            == "gpu1"
        )


def test_a_disabled_backend_gets_no_calls(fleet_app, pool, tmp_path):
    from ollama_gate.routing.manage import set_backend

    with fleet_app.app_context():
        set_backend(fleet_app.config["GATE"], "gpu2", enabled=False)
    fleet_app.extensions["ollama_gate"].checker.check_due(force=True)
    client, key = fleet_app.test_client(), add_key(fleet_app)
    for _ in range(4):
        assert (
            chat(client, key, "llama3.2", stream=False).headers["X-Ollama-Gate-Backend"]
            == "gpu1"
        )
    resp = chat(client, key, "llama3:70b", stream=False)
    assert resp.status_code == 503
    assert "gpu2 is disabled" in resp.get_json()["error"]


def test_the_backend_header_never_reaches_a_disabled_backend(fleet_app, pool):
    from ollama_gate.routing.manage import set_backend

    with fleet_app.app_context():
        set_backend(fleet_app.config["GATE"], "gpu2", enabled=False)
    fleet_app.extensions["ollama_gate"].checker.check_due(force=True)
    client, manager = (
        fleet_app.test_client(),
        add_key(fleet_app, "ops", scopes="manage"),
    )
    before = len(calls_to(pool[1]))
    for path, body in (
        ("/api/chat", {"model": "llama3.2", "messages": [], "stream": False}),
        ("/api/pull", {"model": "tinyllama", "stream": False}),
    ):
        resp = client.post(
            path,
            json=body,
            headers={
                "Authorization": f"Bearer {manager}",
                "X-Ollama-Gate-Backend": "gpu2",
            },
        )
        assert resp.status_code == 403
        assert resp.get_json() == {
            "error": "X-Ollama-Gate-Backend: backend 'gpu2' is disabled"
        }
    assert len(calls_to(pool[1])) == before


def test_the_backend_header_cannot_bypass_a_route(tmp_path, pool):
    app = make_fleet_app(tmp_path, pool, ROUTES=["llama3.2=gpu1"])
    client, manager = app.test_client(), add_key(app, "ops", scopes="manage")

    def chat_on(backend, path="/api/chat", model="llama3.2"):
        return client.post(
            path,
            json={"model": model, "messages": [{"role": "user", "content": "x"}]}
            | {"stream": False},
            headers={
                "Authorization": f"Bearer {manager}",
                "X-Ollama-Gate-Backend": backend,
            },
        )

    before = len(calls_to(pool[1]))
    resp = chat_on("gpu2")  # gpu2 has llama3.2 loaded, but the route says gpu1
    assert resp.status_code == 403
    assert resp.get_json()["error"] == (
        "X-Ollama-Gate-Backend: model 'llama3.2' is routed to gpu1 only, not gpu2"
    )
    resp = chat_on("gpu2", "/v1/chat/completions")
    assert (
        resp.status_code == 403
        and "routed to gpu1" in (resp.get_json()["error"]["message"])
    )
    assert len(calls_to(pool[1])) == before
    resp = chat_on("gpu1")  # a backend of its route may be picked
    assert resp.status_code == 200 and resp.headers["X-Ollama-Gate-Backend"] == "gpu1"


def test_an_alias_never_widens_an_allowlist(tmp_path, pool):
    """``llama3*`` must not run qwen2.5:7b because an admin named an alias
    ``llama3-big``: an allowlist allows the model that runs, or the alias by name."""
    app = make_fleet_app(tmp_path, pool, ALIASES=["llama3-big=qwen2.5:7b"])
    client = app.test_client()
    wide = add_key(app, model_allowlist="llama3*")
    resp = chat(client, wide, "llama3-big", stream=False)
    assert resp.status_code == 403
    assert resp.get_json() == {
        "error": "this API key may not use model 'llama3-big': an alias is allowed "
        "only when the allowlist names it exactly or allows the model it runs"
    }
    resp = client.post(
        "/v1/chat/completions",
        json={"model": "llama3-big", "messages": [{"role": "user", "content": "x"}]},
        headers={"Authorization": f"Bearer {wide}"},
    )
    assert resp.status_code == 403
    assert resp.get_json()["error"]["type"] == "permission_error"
    assert not calls_to(pool[0])  # nothing ran on qwen2.5:7b's backend
    names = [
        m["name"]
        for m in client.get(
            "/api/tags", headers={"Authorization": f"Bearer {wide}"}
        ).get_json()["models"]
    ]
    assert "llama3-big" not in names and "llama3:8b" in names
    for allowlist in (
        "llama3*,llama3-big",
        "llama3*,llama3-big:latest",
        "llama*,qwen*",
    ):
        key = add_key(app, model_allowlist=allowlist)
        resp = chat(client, key, "llama3-big", stream=False)
        assert resp.status_code == 200, allowlist
        assert resp.get_json()["model"] == "llama3-big"
