"""Handing out keys: the one-time page after create (POST, redirect, GET), its ready
settings and summary, and rotation with a grace period."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from ollama_gate.extensions import db
from ollama_gate.models import ApiKey, utcnow
from tests.admin.test_keys import KEY_RE, actions, api, create_key, create_user
from tests.helpers.admin import login, make_admin, post


@pytest.fixture()
def admin(app, client):
    """A logged-in admin ``root``; returns the client."""
    make_admin(app)
    assert login(client).status_code == 302
    return client


def key_count(app) -> int:
    with app.app_context():
        return db.session.execute(db.select(db.func.count(ApiKey.id))).scalar_one()


def test_reload_after_create_mints_nothing_and_shows_no_secret(app, admin, fake):
    uid = create_user(admin, "alice")
    plain, key_id = create_key(admin, uid, name="laptop", calls_per_day="100")
    assert key_count(app) == 1
    again = admin.get(f"/admin/keys/{key_id}/created")  # the reload
    html = again.get_data(as_text=True)
    assert again.status_code == 410 and "shown already" in html
    assert plain not in html and not KEY_RE.search(html)
    assert key_count(app) == 1
    assert api(app.test_client(), plain) == 200


def test_another_keys_page_does_not_take_the_held_secret(app, admin, fake):
    uid = create_user(admin, "alice")
    _, first = create_key(admin, uid)
    resp = post(admin, f"/admin/users/{uid}/keys", {}, f"/admin/users/{uid}")
    assert admin.get(f"/admin/keys/{first}/created").status_code == 410
    fresh = admin.get(resp.headers["Location"]).get_data(as_text=True)
    assert KEY_RE.search(fresh)  # still there for its own key


def test_one_time_page_has_the_real_addresses_and_the_limits(app, admin, fake):
    app.config["GATE"]["RATE_LIMIT"] = "600/minute"
    uid = create_user(admin, "bob")
    page = f"/admin/users/{uid}"
    fields = {"tokens_per_month": "5000", "models": "llama3*"}
    resp = post(admin, f"{page}/keys", fields, page)
    html = admin.get(resp.headers["Location"]).text  # as the browser reached it
    plain = KEY_RE.search(html).group(1)
    assert f"OPENAI_BASE_URL=http://localhost/v1\nOPENAI_API_KEY={plain}" in html
    assert "export OLLAMA_HOST=http://localhost\n" in html
    assert f"export OLLAMA_API_KEY={plain}" in html
    summary = re.search(r'<dl class="facts" id="key-summary">(.*?)</dl>', html, re.S)
    text = re.sub(r"<[^>]+>", " ", summary.group(1))
    assert "600/minute (default)" in text and "5,000 tokens" in text
    assert "llama3*" in text and "full (default)" in text


def test_rotate_keeps_settings_and_the_old_key_stops_after_its_grace(app, admin, fake):
    uid = create_user(admin, "carol")
    old_plain, old_id = create_key(
        admin,
        uid,
        name="ci",
        rate_limit="10/minute",
        calls_per_day="7",
        models="qwen*",
        history_mode="metadata",
    )
    page = f"/admin/keys/{old_id}"
    assert "1 day" in admin.get(f"{page}/rotate").text
    resp = post(admin, f"{page}/rotate", {"grace": "1h"}, f"{page}/rotate")
    assert resp.status_code == 303
    html = admin.get(resp.headers["Location"]).text
    new_plain = KEY_RE.search(html).group(1)
    assert new_plain != old_plain
    with app.app_context():
        old = db.session.get(ApiKey, old_id)
        new = db.session.execute(
            db.select(ApiKey).where(ApiKey.id != old_id)
        ).scalar_one()
        for column in (
            "name",
            "rate_limit",
            "calls_per_day",
            "model_allowlist",
            "history_mode",
            "user_id",
            "expires_at",
            "scopes",
        ):
            assert getattr(new, column) == getattr(old, column), column
        assert old.revoked_at is None
        grace = old.revoke_at - utcnow()
        assert timedelta(minutes=59) < grace <= timedelta(hours=1)
    client = app.test_client()
    assert api(client, old_plain) == 200 and api(client, new_plain) == 200  # in grace
    assert "works until then" in admin.get(page).text
    with app.app_context():  # the grace period is over
        db.session.get(ApiKey, old_id).revoke_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    refused = client.get("/api/tags", headers={"Authorization": f"Bearer {old_plain}"})
    assert refused.status_code == 403 and "rotated" in refused.json["error"]
    assert api(client, new_plain) == 200
    assert "revoked" in admin.get(page).text
    assert ("key_rotated", f"{old_plain[:11]} (carol)") in actions(app)
    again = post(admin, f"{page}/rotate", {"grace": "0"}, page)  # no second rotation
    assert again.status_code == 302 and key_count(app) == 2


def test_rotate_at_once_revokes_now(app, admin, fake):
    uid = create_user(admin, "dan")
    old_plain, old_id = create_key(admin, uid)
    page = f"/admin/keys/{old_id}"
    resp = post(admin, f"{page}/rotate", {"grace": "0"}, f"{page}/rotate")
    new_plain = KEY_RE.search(admin.get(resp.headers["Location"]).text).group(1)
    client = app.test_client()
    assert api(client, old_plain) == 403 and api(client, new_plain) == 200


@pytest.mark.parametrize("grace", ["", "2h", "-1", "1d<script>"])
def test_rotate_refuses_odd_grace(app, admin, fake, grace):
    uid = create_user(admin, "erin")
    _, key_id = create_key(admin, uid)
    page = f"/admin/keys/{key_id}"
    resp = post(admin, f"{page}/rotate", {"grace": grace}, f"{page}/rotate")
    assert resp.status_code == 400 and key_count(app) == 1
