"""Backends, routes and aliases managed with the CLI and the admin UI: stored, checked,
audited (before and after), and used by the running fleet."""

from __future__ import annotations

from ollama_gate.audit import AuditLog
from ollama_gate.extensions import db
from ollama_gate.routing.models import Backend
from tests.helpers.admin import login, make_admin, post
from tests.helpers.keys import add_key
from tests.routing.test_routing import make_fleet_app


def audit(app) -> list[tuple[str, str, str]]:
    with app.app_context():
        rows = db.session.execute(db.select(AuditLog).order_by(AuditLog.id)).scalars()
        return [(r.action, r.target, r.detail) for r in rows]


def test_cli_adds_changes_disables_and_removes_backends(tmp_path, pool):
    gpu1, gpu2, gpu3 = pool
    app = make_fleet_app(tmp_path, pool[:1] + [], BACKENDS=[f"gpu1={gpu1.url}"])
    run = app.test_cli_runner().invoke
    out = run(args=["backends", "add", "gpu3", gpu3.url, "--token", "s3cret-token"])
    assert out.exit_code == 0, out.output
    assert run(args=["backends", "add", "gpu3", gpu3.url]).exit_code != 0  # exists
    bad = run(args=["backends", "add", "x", "ftp://nope"])
    assert bad.exit_code != 0 and "http(s)://host" in bad.output
    listing = run(args=["backends", "list"]).output
    assert "gpu1  up" in listing and "gpu3  up" in listing
    assert "phi3:mini" in listing and "s3cret" not in listing and "token set" in listing
    # the fleet uses the new backend: phi3:mini lives on gpu3 only
    key, client = add_key(app), app.test_client()
    app.extensions["ollama_gate"].checker.check_due(force=True)
    resp = client.post(
        "/api/generate",
        json={"model": "phi3:mini", "prompt": "x", "stream": False},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert resp.headers["X-Ollama-Gate-Backend"] == "gpu3"
    assert gpu3.requests[-1].headers["authorization"] == "Bearer s3cret-token"
    assert run(args=["backends", "set", "gpu3", "--weight", "3"]).exit_code == 0
    assert run(args=["backends", "disable", "gpu1"]).exit_code == 0  # from the env
    assert "gpu1  disabled" in run(args=["backends", "list"]).output
    assert run(args=["backends", "enable", "gpu1"]).exit_code == 0
    refused = run(args=["backends", "remove", "gpu1"])  # only its override row goes
    assert refused.exit_code == 0 and "OLLAMA_GATE_BACKENDS" in refused.output
    assert run(args=["backends", "remove", "gpu1"]).exit_code != 0
    assert run(args=["backends", "remove", "gpu3"]).exit_code == 0
    with app.app_context():
        assert db.session.execute(db.select(Backend)).scalars().all() == []
    actions = [a for a, _, _ in audit(app)]
    assert actions == [
        "backend_added",
        "backend_changed",
        "backend_changed",
        "backend_changed",
        "backend_removed",
        "backend_removed",
    ]
    added = audit(app)[0][2]  # the row as stored, defaults and all
    assert "enabled=yes weight=1 " in added and "None" not in added
    changed = audit(app)[1][2]
    assert changed == "weight: 1 → 3"  # what changed, not the whole record twice
    assert all("s3cret" not in detail for _, _, detail in audit(app))


def test_cli_routes_and_aliases(tmp_path, pool):
    app = make_fleet_app(tmp_path, pool)
    run = app.test_cli_runner().invoke
    assert run(args=["backends", "route", "llama3.2", "gpu1"]).exit_code == 0
    assert run(args=["backends", "route", "llama3.2", "nope"]).exit_code != 0
    assert run(args=["aliases", "add", "gpt-4o", "llama3.2"]).exit_code == 0
    assert "gpt-4o -> llama3.2" in run(args=["aliases", "list"]).output
    app.extensions["ollama_gate"].checker.check_due(force=True)
    key, client = add_key(app), app.test_client()
    for _ in range(3):  # loaded on gpu2, pinned to gpu1
        resp = client.post(
            "/api/chat",
            json={"model": "gpt-4o", "messages": [], "stream": False},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert resp.headers["X-Ollama-Gate-Backend"] == "gpu1"
        assert resp.get_json()["model"] == "gpt-4o"
    assert run(args=["aliases", "remove", "GPT-4o"]).exit_code == 0
    assert run(args=["aliases", "remove", "gpt-4o"]).exit_code != 0
    assert [(a, d) for a, _, d in audit(app)] == [  # each names what changed
        ("route_set", "backends: none → gpu1"),
        ("alias_set", "model: none → llama3.2"),
        ("alias_removed", "model: llama3.2 → none"),
    ]


def test_admin_ui_manages_backends(tmp_path, pool):
    gpu1, _, gpu3 = pool
    app = make_fleet_app(tmp_path, pool[:1], BACKENDS=[f"gpu1={gpu1.url}"])
    make_admin(app)
    client = app.test_client()
    login(client)
    page = client.get("/admin/backends").get_data(as_text=True)
    assert "gpu1" in page and "llama3.2:latest" in page
    resp = post(
        client,
        "/admin/backends",
        {
            "add-name": "gpu3",
            "add-url": gpu3.url,
            "add-token": "tok-xyz",
            "add-weight": "2",
        },
        form_page="/admin/backends",
    )
    assert resp.status_code == 302
    page = client.get("/admin/backends").get_data(as_text=True)
    assert "gpu3" in page and "phi3:mini" in page and "tok-xyz" not in page
    resp = post(
        client,
        "/admin/backends",
        {"add-name": "bad", "add-url": "nope"},
        "/admin/backends",
    )
    assert resp.status_code == 400
    assert (
        post(client, "/admin/backends/gpu3/disable", {}, "/admin/backends").status_code
        == 302
    )
    assert app.extensions["ollama_gate"].fleet.get("gpu3").config.enabled is False
    resp = post(
        client,
        "/admin/backends/aliases",
        {"alias-alias": "<b>fast</b>", "alias-model": "phi3:mini"},
        "/admin/backends",
    )
    assert resp.status_code == 302
    page = client.get("/admin/backends").get_data(as_text=True)
    assert "&lt;b&gt;fast&lt;/b&gt;" in page and "<b>fast</b>" not in page
    assert (
        post(client, "/admin/backends/gpu3/remove", {}, "/admin/backends").status_code
        == 302
    )
    assert app.extensions["ollama_gate"].fleet.get("gpu3") is None
    # no CSRF token: refused
    assert client.post("/admin/backends/gpu1/disable").status_code == 400
    assert [a for a, _, _ in audit(app)][-4:] == [
        "backend_added",
        "backend_changed",
        "alias_set",
        "backend_removed",
    ]


def test_admin_ui_sets_model_policies_and_shows_the_queue(tmp_path, pool):
    app = make_fleet_app(tmp_path, pool[:1], BACKENDS=[f"gpu1={pool[0].url}"])
    make_admin(app)
    client = app.test_client()
    login(client)
    page = client.get("/admin/backends").get_data(as_text=True)
    assert "No call is waiting, and none has waited yet." in page
    assert "Model policies" in page
    resp = post(
        client,
        "/admin/backends/policies",
        {
            "policy-model": "llama3.2",
            "policy-num_ctx": "8192",
            "policy-num_ctx_enforced": "y",
            "policy-keep_alive": "1h",
            "policy-warm": "1",
        },
        "/admin/backends",
    )
    assert resp.status_code == 302
    page = client.get("/admin/backends").get_data(as_text=True)
    assert "num_ctx=8192 (enforced) keep_alive=1h warm=1" in page
    bad = post(
        client,
        "/admin/backends/policies",
        {"policy-model": "llama3.2", "policy-keep_alive": "soon"},
        "/admin/backends",
    )
    assert bad.status_code == 400 and "duration" in bad.get_data(as_text=True)
    assert audit(app)[-1][0] == "model_policy_set"
