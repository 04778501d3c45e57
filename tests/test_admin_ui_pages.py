"""The admin UI's second-round pages through the Flask client: a backend edited from
the environment and reset, and the confirm pages for aliases, routes and policies."""

from __future__ import annotations

from admin_helpers import login, make_admin, post
from test_routing import make_fleet_app

from ollama_gate.extensions import db
from ollama_gate.routing.models import Alias, ModelRoute
from ollama_gate.scheduler.models import ModelPolicy


def admin_client(app):
    make_admin(app)
    client = app.test_client()
    login(client)
    return client


def test_a_backend_from_the_environment_is_edited_then_reset(tmp_path, pool):
    app = make_fleet_app(tmp_path, pool)
    client = admin_client(app)
    page = client.get("/admin/backends/gpu2/edit").get_data(as_text=True)
    assert pool[1].url in page and "OLLAMA_GATE_BACKENDS" in page
    assert client.get("/admin/backends/gpu2/remove").status_code == 404  # env only
    form = {"url": pool[1].url, "weight": "4", "parallel": "", "token": "tok-xyz"}
    resp = post(client, "/admin/backends/gpu2/edit", form, "/admin/backends/gpu2/edit")
    assert resp.status_code == 302
    config = app.extensions["ollama_gate"].fleet.get("gpu2").config
    assert (config.weight, config.token, config.source) == (
        4,
        "tok-xyz",
        "env+database",
    )
    bad = post(client, "/admin/backends/gpu2/edit", {"url": "x"}, "/admin/backends")
    assert bad.status_code == 400 and 'id="form-errors"' in bad.get_data(as_text=True)
    ask = client.get("/admin/backends/gpu2/remove").get_data(as_text=True)
    assert "Reset backend gpu2?" in ask
    post(client, "/admin/backends/gpu2/remove", {}, "/admin/backends")
    with app.app_context():
        app.extensions["ollama_gate"].fleet.reload()
    config = app.extensions["ollama_gate"].fleet.get("gpu2").config
    assert (config.weight, config.token, config.source) == (1, None, "env")


def test_alias_route_and_policy_removal_ask_first(tmp_path, pool):
    app = make_fleet_app(tmp_path, pool)
    client = admin_client(app)
    page = "/admin/backends"
    post(
        client,
        "/admin/backends/aliases",
        {"alias-alias": "fast", "alias-model": "phi3:mini"},
        page,
    )
    post(
        client,
        "/admin/backends/routes",
        {"route-model": "phi3:mini", "route-backends": "gpu3"},
        page,
    )
    post(
        client,
        "/admin/backends/policies",
        {"policy-model": "phi3:mini", "policy-warm": "1"},
        page,
    )
    listing = client.get(page).get_data(as_text=True)
    paths = (
        "/admin/backends/aliases/fast/remove",
        "/admin/backends/routes/phi3:mini/remove",
        "/admin/backends/policies/phi3:mini/remove",
    )
    for path in paths:
        assert f'href="{path}"' in listing
        assert "Cancel" in client.get(path).get_data(as_text=True)  # asks first

    def count() -> int:
        with app.app_context():
            return sum(
                len(db.session.execute(db.select(m)).scalars().all())
                for m in (Alias, ModelRoute, ModelPolicy)
            )

    assert count() == 3  # asking removed nothing
    for path in paths:
        assert post(client, path, {}, page).status_code == 302
    assert count() == 0
