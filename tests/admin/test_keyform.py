"""The short key form: defaults named in the hints, ISO dates, the fleet's models
offered and a warning for an allowlist pattern that matches none of them."""

from __future__ import annotations

import pytest

from ollama_gate.admin.fleet import fleet_model_names, unmatched
from ollama_gate.extensions import db
from ollama_gate.models import ApiKey
from tests.admin.test_keys import create_user
from tests.helpers.admin import login, make_admin, post


@pytest.fixture()
def admin(app, client):
    """A logged-in admin ``root``; returns the client."""
    make_admin(app)
    assert login(client).status_code == 302
    return client


def test_form_is_short_and_names_the_defaults(app, admin, fake):
    app.config["GATE"]["RATE_LIMIT"] = "600/minute"
    uid = create_user(admin, "alice")
    html = admin.get(f"/admin/users/{uid}").text
    form = html[html.index("Create a key") :]
    assert form.index('id="name"') < form.index('id="expires"') < form.index("<details")
    assert form.index("<details") < form.index('id="rate_limit"')
    assert "the default, 600/minute" in form and "default (full)" in form
    assert "OLLAMA_GATE_" not in form  # no variable names in the hints
    assert 'placeholder="YYYY-MM-DD (never)"' in form and 'type="date"' not in form
    for name in ("llama3.2:latest", "qwen2.5:7b"):
        assert f'data-add-model="{name}"' in form  # the fake's models


def test_iso_expiry_and_a_warning_for_a_pattern_matching_no_model(app, admin, fake):
    uid = create_user(admin, "bob")
    page = f"/admin/users/{uid}"
    fields = {"expires": "2999-01-31", "models": "llama3*, lama3.2"}
    resp = post(admin, f"{page}/keys", fields, page)
    html = admin.get(resp.headers["Location"]).text
    assert "No model on the fleet matches lama3.2: check" in html
    with app.app_context():
        row = db.session.execute(db.select(ApiKey)).scalar_one()
        assert f"{row.expires_at:%Y-%m-%d}" == "2999-01-31"
    bad = post(admin, f"{page}/keys", {"expires": "31/01/2999"}, page)
    assert bad.status_code == 400


def test_model_lookup_is_the_fleets_and_never_fails(app, fake):
    with app.test_request_context():
        assert "llama3.2:latest" in fleet_model_names()  # the backend's tags
        gate = app.extensions["ollama_gate"]
        fake.models.append({**fake.models[0], "name": "new:1", "model": "new:1"})
        assert "new:1" not in fleet_model_names()  # until the next health check
        gate.fleet.get(gate.fleet.backends()[0].name).next_check = 0.0
        assert "new:1" in fleet_model_names()
        gate.fleet.model_names = lambda: 1 / 0  # a broken fleet: no suggestions
        assert fleet_model_names() == []
    assert unmatched(["llama3*", "x"], ["llama3.2:latest"]) == ["x"]
    assert unmatched(["x"], []) == []  # unknown fleet: no warning


def test_pages_work_with_the_upstream_down(tmp_path, fake):
    from ollama_gate import create_app

    dead = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "t",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'd.db'}",
            "BACKENDS": ["http://127.0.0.1:9"],
        }
    )
    with dead.app_context():
        db.create_all()
    make_admin(dead)
    client = dead.test_client()
    login(client)
    uid = create_user(client, "carol")
    html = client.get(f"/admin/users/{uid}").text
    assert "Create a key" in html and "data-add-model" not in html


def test_a_queue_weight_changed_alone_is_saved_and_audited(app, admin, fake):
    from ollama_gate.audit import AuditLog
    from tests.admin.test_keys import create_key

    uid = create_user(admin, "carol")
    _, key_id = create_key(admin, uid)
    page = f"/admin/keys/{key_id}"
    resp = post(admin, page, {"queue_weight": "3"}, page)
    assert resp.status_code == 302
    html = admin.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Key saved." in html and "Nothing to change" not in html
    with app.app_context():
        assert db.session.get(ApiKey, key_id).queue_weight == 3
        last = db.session.execute(
            db.select(AuditLog).order_by(AuditLog.id.desc()).limit(1)
        ).scalar_one()
        assert (last.action, last.detail) == ("key_updated", "queue_weight: none → 3")


def test_every_setting_the_form_stores_is_audited():
    """The form's change detection and the audit diff read one list of settings."""
    from ollama_gate.changes import SETTINGS
    from ollama_gate.limits.admin import LimitFields

    counts = {n for n, f in vars(LimitFields).items() if hasattr(f, "field_class")}
    assert counts - {"rate_limit", "models", "manage"} <= set(SETTINGS)
