"""A database backend that shadows an environment backend of the same name at
another URL is named loudly, in ``backends list`` and on the backends page (issue 29:
a CLI without the server's settings added ``gpu2`` and a model began answering 404)."""

from __future__ import annotations

from tests.helpers.admin import login, make_admin
from tests.routing.test_routing import make_fleet_app

SHADOW = "http://10.0.0.9:11434"


def test_a_row_that_shadows_an_environment_backend_is_named(tmp_path, pool):
    gpu1, gpu2, _ = pool
    # the command line without the server's settings takes gpu2 for a free name...
    cli = make_fleet_app(tmp_path, pool[:1], BACKENDS=[f"gpu1={gpu1.url}"])
    added = cli.test_cli_runner().invoke(args=["backends", "add", "gpu2", SHADOW])
    assert added.exit_code == 0, added.output
    # ...while the server's own gpu2 comes from its environment
    app = make_fleet_app(
        tmp_path, pool[:2], BACKENDS=[f"gpu1={gpu1.url}", f"gpu2={gpu2.url}"]
    )
    warning = f"overrides OLLAMA_GATE_BACKENDS gpu2={gpu2.url}"
    listing = app.test_cli_runner().invoke(args=["backends", "list"]).output
    assert warning in listing and "backends remove gpu2" in listing, listing
    assert "gpu1=" not in listing  # an env backend without a row is not named
    make_admin(app)
    client = app.test_client()
    login(client)
    page = client.get("/admin/backends").get_data(as_text=True)
    assert warning in page


def test_an_override_at_the_same_url_is_not_a_shadow(tmp_path, pool):
    gpu1 = pool[0]
    app = make_fleet_app(tmp_path, pool[:1], BACKENDS=[f"gpu1={gpu1.url}"])
    run = app.test_cli_runner().invoke
    assert run(args=["backends", "set", "gpu1", "--weight", "2"]).exit_code == 0
    assert "overrides" not in run(args=["backends", "list"]).output
