"""A member's own keys in the portal: made within the team's policy (refusals say
why), working on the API and charged to them, rotated, revoked, audited; another
person's keys are a 404; CSRF on every form."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from ollama_gate.audit import AuditLog
from ollama_gate.extensions import db
from ollama_gate.history.models import Request
from ollama_gate.limits.usage import Usage
from ollama_gate.models import utcnow
from tests.helpers.admin import csrf_token, login, make_admin
from tests.helpers.keys import add_key
from tests.portal.helpers import (
    CHAT,
    create,
    created_secret,
    keys_of,
    make_team,
    post,
    sign_in,
)

POLICY = dict(
    portal_max_keys=3,
    portal_max_days=30,
    portal_expiry_required=True,
    model_allowlist="llama3*,qwen*",
    portal_models="llama3*",
)


def soon(days: int = 10) -> str:
    return (utcnow().date() + timedelta(days=days)).isoformat()


def audit(app, action: str) -> list[tuple[str, str, str]]:
    """(actor, target, detail) of each audit entry of ``action``."""
    with app.app_context():
        rows = db.session.execute(
            db.select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)
        ).scalars()
        return [(r.admin_name, r.target, r.detail) for r in rows]


@pytest.fixture()
def alice(app, client):
    """Member alice of team ml (at most three keys of 30 days, llama3 models)."""
    make_team(app, "ml", **POLICY)
    return sign_in(app, client, "alice", "ml")


def test_a_key_made_in_the_portal_works_and_is_charged_to_its_maker(
    app, client, fake, alice
):
    resp = create(client, name="laptop", expires=soon(), models="llama3.2")
    secret = created_secret(client, resp)
    [key] = keys_of(app, "alice")
    assert (key.name, key.model_allowlist) == ("laptop", "llama3.2")
    assert key.expires_at.date() == date.fromisoformat(soon())
    # the one-time page: the secret once, the settings to copy with it
    again = client.get(f"/portal/keys/{key.id}/created")
    assert again.status_code == 410 and secret not in again.text
    headers = {"Authorization": f"Bearer {secret}"}
    ok = client.post("/api/chat", json={**CHAT, "stream": False}, headers=headers)
    assert ok.status_code == 200, ok.text
    other = {**CHAT, "model": "qwen2.5:7b", "stream": False}
    assert client.post("/api/chat", json=other, headers=headers).status_code == 403
    app.extensions["ollama_gate"].recorder.flush()
    with app.app_context():
        calls = db.session.execute(
            db.select(Request.user_id, Request.key_id, Request.status)
        ).all()
        assert (alice, key.id, 200) in calls
        assert db.session.scalar(
            db.select(db.func.sum(Usage.calls)).where(Usage.key_id == key.id)
        )
    assert audit(app, "key_created") == [
        (
            "alice",
            f"{key.prefix} (alice)",
            f"portal: laptop; expires {soon()}; models llama3.2",
        )
    ]
    usage = client.get("/portal/usage")
    assert usage.status_code == 200 and f"usage-key-{key.prefix}" in usage.text


def test_the_one_time_page_has_the_settings_to_copy(app, client, alice):
    resp = create(client, name="laptop", expires=soon())
    page = client.get(resp.headers["Location"])
    secret = created_secret(client, create(client, expires=soon()))
    assert page.status_code == 200
    for part in ("setup-openai", "setup-ollama", "setup-curl", "/v1"):
        assert part in page.text
    assert secret.startswith("og_")


def test_refusals_past_the_policy_say_why_and_are_audited(app, client, alice):
    for name in ("a", "b", "c"):
        assert create(client, name=name, expires=soon()).status_code == 303
    fourth = create(client, name="d", expires=soon())
    assert fourth.status_code == 403
    assert "the most team ml allows is 3: revoke one first" in fourth.text
    assert len(keys_of(app, "alice")) == 3
    # revoke one: room for one more, and each other rule refuses on its own
    first = keys_of(app, "alice")[0]
    assert post(client, f"/portal/keys/{first.id}/revoke").status_code == 302
    cases = [
        ({"expires": soon(), "models": "mistral"}, "mistral: not among the models"),
        ({"expires": soon(), "models": "qwen2.5:7b"}, "not among the models"),
        ({}, "Team ml requires an expiry"),
        ({"expires": soon(31)}, "at most 30 days"),
    ]
    for fields, reason in cases:
        resp = create(client, name="e", **fields)
        assert resp.status_code == 403, fields
        assert reason in resp.text, (fields, resp.text[:2000])
    assert len(keys_of(app, "alice")) == 3
    refused = audit(app, "key_refused")
    assert len(refused) == 5 and {a for a, _, _ in refused} == {"alice"}
    assert "revoke one first" in refused[0][2] and "mistral" in refused[1][2]
    assert create(client, name="e", expires=soon(30)).status_code == 303


def test_no_team_means_the_gateway_default(app, client):
    sign_in(app, client, "bob", team=None)
    app.config["GATE"]["PORTAL_MAX_KEYS"] = 1
    assert create(client, name="one").status_code == 303  # no expiry needed
    again = create(client, name="two")
    assert again.status_code == 403 and "the gateway allows is 1" in again.text


def test_rotate_and_revoke(app, client, fake, alice):
    old_secret = created_secret(client, create(client, name="k", expires=soon()))
    [old] = keys_of(app, "alice")
    form = client.get(f"/portal/keys/{old.id}/rotate")
    assert form.status_code == 200 and 'name="grace"' in form.text
    resp = post(client, f"/portal/keys/{old.id}/rotate", {"grace": "0"})
    new_secret = created_secret(client, resp)
    old_row, new = keys_of(app, "alice")
    assert old_row.revoked_at is not None and new.limits_key_id == old.id
    assert (new.name, new.expires_at) == (old.name, old.expires_at)
    body = {**CHAT, "stream": False}
    bearer = {"Authorization": f"Bearer {old_secret}"}
    assert client.post("/api/chat", json=body, headers=bearer).status_code == 403
    bearer = {"Authorization": f"Bearer {new_secret}"}
    assert client.post("/api/chat", json=body, headers=bearer).status_code == 200
    [(actor, target, detail)] = audit(app, "key_rotated")
    assert actor == "alice" and target == f"{old.prefix} (alice)"
    assert detail.startswith(f"portal: replaced by {new.prefix}")
    assert post(client, f"/portal/keys/{new.id}/revoke").status_code == 302
    app.extensions["ollama_gate"].key_cache.clear()
    assert client.post("/api/chat", json=body, headers=bearer).status_code == 403
    [(actor, target, _)] = audit(app, "key_revoked")
    assert (actor, target) == ("alice", f"{new.prefix} (alice)")


def test_a_grace_rotation_past_the_most_keys_is_refused(app, client, alice):
    for name in ("a", "b", "c"):
        create(client, name=name, expires=soon())
    key = keys_of(app, "alice")[0]
    resp = post(client, f"/portal/keys/{key.id}/rotate", {"grace": "1d"})
    assert resp.status_code == 403 and "Or rotate it at once" in resp.text
    assert len(keys_of(app, "alice")) == 3
    assert post(client, f"/portal/keys/{key.id}/rotate", {"grace": "0"}).status_code
    assert len(keys_of(app, "alice")) == 4  # one revoked, three active


def test_another_persons_key_is_a_404(app, client, alice):
    add_key(app, "bob", name="bobs")
    [bobs] = keys_of(app, "bob")
    assert "bobs" not in client.get("/portal/").text
    for path in ("created", "rotate", "revoke"):
        assert client.get(f"/portal/keys/{bobs.id}/{path}").status_code == 404
    for path, data in (("rotate", {"grace": "0"}), ("revoke", {})):
        assert post(client, f"/portal/keys/{bobs.id}/{path}", data).status_code == 404
    assert client.get(f"/portal/keys/{2**70}/rotate").status_code == 404
    [after] = keys_of(app, "bob")
    assert after.revoked_at is None and after.revoke_at is None
    assert len(keys_of(app, "bob")) == 1


def test_every_form_needs_its_csrf_token(app, client, alice):
    resp = client.post("/portal/keys", data={"name": "x", "expires": soon()})
    assert resp.status_code == 400 and keys_of(app, "alice") == []
    create(client, name="k", expires=soon())
    [key] = keys_of(app, "alice")
    for path in ("rotate", "revoke"):
        resp = client.post(f"/portal/keys/{key.id}/{path}", data={"grace": "0"})
        assert resp.status_code == 400
    [after] = keys_of(app, "alice")
    assert after.revoked_at is None


def test_signed_out_people_go_to_the_login_page(client):
    for path in ("/portal/", "/portal/usage", "/portal/history", "/portal/models"):
        resp = client.get(path)
        assert resp.status_code == 302 and "/admin/login" in resp.headers["Location"]


def test_my_history_escapes_prompts_and_can_be_turned_off(app, client, fake, alice):
    secret = created_secret(client, create(client, name="k", expires=soon()))
    evil = {**CHAT, "stream": False}
    evil["messages"] = [{"role": "user", "content": "<script>alert(1)</script>"}]
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.post("/api/chat", json=evil, headers=headers).status_code == 200
    add_key(app, "bob")  # bob's calls are never alice's
    app.extensions["ollama_gate"].recorder.flush()
    page = client.get("/portal/history")
    assert page.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>alert(1)" not in page.text
    assert "My history" in client.get("/portal/").text
    app.config["GATE"]["PORTAL_HISTORY"] = False
    assert client.get("/portal/history").status_code == 404
    assert "My history" not in client.get("/portal/").text


def test_the_models_i_may_use(app, client, alice):
    page = client.get("/portal/models")
    assert page.status_code == 200
    assert "llama3*" in page.text
    assert '<li class="chip">llama3.2:latest</li>' in page.text
    assert "qwen2.5" not in page.text.split('id="my-models"')[1]


def test_members_see_the_portal_in_the_nav_and_admins_a_link_to_theirs(app, client):
    sign_in(app, client, "carol", team=None)
    page = client.get("/portal/").text
    assert 'id="portal-links"' in page and 'href="/admin/users"' not in page
    assert client.get("/admin/users").status_code == 403
    admin = app.test_client()
    make_admin(app, "root")
    assert login(admin, "root").status_code == 302
    home = admin.get("/admin/overview").text
    assert 'id="my-portal"' in home and 'id="portal-links"' not in home
    mine = admin.get("/portal/")
    assert mine.status_code == 200 and 'id="portal-nav"' in mine.text
    token = csrf_token(admin, "/portal/")
    made = admin.post("/portal/keys", data={"name": "root's", "csrf_token": token})
    assert made.status_code == 303
    assert [k.name for k in keys_of(app, "root")] == ["root's"]


def test_an_admin_proves_a_members_keys_with_the_audit_log(app, client, alice):
    create(client, name="laptop", expires=soon())
    create(client, name="bad", expires=soon(), models="mistral")
    admin = app.test_client()
    make_admin(app, "root")
    login(admin, "root")
    made = admin.get("/admin/audit?action=key_created&admin=alice").text
    assert "portal: laptop" in made and "Key created" in made
    refused = admin.get("/admin/audit?action=key_refused").text
    assert "mistral: not among the models" in refused
