"""The token manager pages: users, keys (shown once), disable, enable, revoke, audit."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import pytest

from ollama_gate import create_app
from ollama_gate.audit import AuditLog
from ollama_gate.extensions import db
from ollama_gate.keys import hash_key
from ollama_gate.models import ApiKey, User
from tests.helpers.admin import login, make_admin, post

KEY_RE = re.compile(r'<code id="new-key">(og_[A-Za-z0-9_-]+)</code>')


@pytest.fixture()
def admin(app, client):
    """A logged-in admin ``root``; returns the client."""
    make_admin(app)
    assert login(client).status_code == 302
    return client


def create_user(client, name: str) -> int:
    """Create a user through the page; return its id."""
    resp = post(client, "/admin/users", {"name": name})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return int(resp.headers["Location"].rsplit("/", 1)[1])


def create_key(client, user_id: int, **fields) -> tuple[str, int]:
    """Create a key through the page; return (plain key, key id)."""
    page = f"/admin/users/{user_id}"
    resp = post(client, f"{page}/keys", fields, page)
    assert resp.status_code == 303, resp.get_data(as_text=True)
    assert plain_in_cookie_jar(client) is False
    resp = client.get(resp.headers["Location"])  # the one-time page
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "no-store"
    html = resp.get_data(as_text=True)
    assert "you will not see it again" in html
    plain = KEY_RE.search(html).group(1)
    key_id = int(re.search(r'href="/admin/keys/(\d+)"', html).group(1))
    return plain, key_id


def plain_in_cookie_jar(client) -> bool:
    """Whether a key's text can be read in the client's cookies (it must not)."""
    import base64
    import zlib

    cookie = client.get_cookie("session")  # itsdangerous: [.]payload.time.signature
    value = cookie.value.lstrip(".").split(".")[0]
    raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    if cookie.value.startswith("."):
        raw = zlib.decompress(raw)
    return b"og_" in raw


def actions(app) -> list[tuple[str, str]]:
    """(action, target) of every audit entry, oldest first."""
    with app.app_context():
        rows = db.session.execute(db.select(AuditLog).order_by(AuditLog.id)).scalars()
        return [(r.action, r.target) for r in rows]


def api(client, plain: str) -> int:
    """Status of an API call with ``plain``."""
    return client.get(
        "/api/tags", headers={"Authorization": f"Bearer {plain}"}
    ).status_code


def test_empty_states_say_what_to_do(admin):
    # (the admin is a user too: the list is never empty for them; a search can be)
    page = admin.get("/admin/users?q=nobody").get_data(as_text=True)
    assert "No user matches" in page and "Create user" in page
    uid = create_user(admin, "alice")
    page = admin.get(f"/admin/users/{uid}").get_data(as_text=True)
    assert "alice has no keys yet" in page and "Create key" in page
    assert 'href="/history?user=alice"' in page  # the history pages, filtered
    page = admin.get("/admin/audit?action=key_revoked").get_data(as_text=True)
    assert "Nothing matches these filters" in page


@pytest.mark.parametrize(
    "name", ["", "<script>x</script>", "a" * 121, "bad/name", "bob\n", "a\x00"]
)
def test_bad_user_names_refused(admin, name):
    resp = post(admin, "/admin/users", {"name": name})
    assert resp.status_code == 400
    with admin.application.app_context():  # (only the admin, root)
        assert db.session.execute(db.select(User.name)).scalars().all() == ["root"]


def test_duplicate_user_refused(admin):
    create_user(admin, "alice")
    resp = post(admin, "/admin/users", {"name": "alice"})
    assert resp.status_code == 400 and "already exists" in resp.get_data(as_text=True)


def test_key_shown_once_works_and_is_stored_hashed(app, admin, fake):
    uid = create_user(admin, "alice")
    plain, key_id = create_key(admin, uid, name="obsidian <b>laptop</b>")
    with app.app_context():
        row = db.session.get(ApiKey, key_id)
        assert row.key_hash == hash_key(plain) and row.user.name == "alice"
        assert row.name == "obsidian <b>laptop</b>" and row.expires_at is None
    assert api(admin.application.test_client(), plain) == 200
    for path in (
        f"/admin/users/{uid}",
        f"/admin/keys/{key_id}",
        "/admin/users",
        "/admin/audit",
    ):
        html = admin.get(path).get_data(as_text=True)
        assert plain not in html, path  # never shown again
        assert "<b>laptop</b>" not in html  # names are escaped
    listing = admin.get(f"/admin/users/{uid}").get_data(as_text=True)
    assert plain[:11] in listing and "active" in listing
    users = admin.get("/admin/users").get_data(as_text=True)
    assert re.search(
        r"alice</strong></a></td>\s*<td[^>]*>1</td>\s*<td[^>]*>1</td>", users
    )
    assert ("key_created", f"{plain[:11]} (alice)") in actions(app)


def test_disable_enable_revoke_and_their_effect_on_the_api(app, admin, fake):
    uid = create_user(admin, "bob")
    plain, key_id = create_key(admin, uid)
    api_client = app.test_client()
    page = f"/admin/users/{uid}"
    assert api(api_client, plain) == 200

    resp = post(admin, f"/admin/keys/{key_id}/disable", {}, page)
    assert resp.status_code == 302
    assert "applies this at once" in admin.get(page).get_data(as_text=True)
    assert api(api_client, plain) == 403
    assert "disabled" in admin.get(page).get_data(as_text=True)
    post(admin, f"/admin/keys/{key_id}/enable", {}, page)
    assert api(api_client, plain) == 200

    confirm = admin.get(f"/admin/keys/{key_id}/revoke")
    assert confirm.status_code == 200 and "cannot be undone" in confirm.get_data(
        as_text=True
    )
    assert api(api_client, plain) == 200  # asking is not revoking
    post(admin, f"/admin/keys/{key_id}/revoke", {}, page)
    assert api(api_client, plain) == 403
    post(admin, f"/admin/keys/{key_id}/enable", {}, page)  # no way back
    assert api(api_client, plain) == 403
    assert "revoked; that cannot be undone" in admin.get(page).get_data(as_text=True)
    key_page = admin.get(f"/admin/keys/{key_id}").get_data(as_text=True)
    assert "is revoked" in key_page and "Save settings" not in key_page
    kinds = [a for a, _ in actions(app)]
    assert kinds[-3:] == ["key_disabled", "key_enabled", "key_revoked"]


def test_ui_changes_apply_at_once_despite_the_key_cache(tmp_path, fake_server, fake):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "s",
            "BACKENDS": [fake_server.url],
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'c.db'}",
            "KEY_CACHE_SECONDS": 300.0,
        }
    )
    with app.app_context():
        db.create_all()
    make_admin(app)
    client = app.test_client()
    login(client)
    uid = create_user(client, "carol")
    plain, key_id = create_key(client, uid)
    assert api(client, plain) == 200  # now cached for 300 s
    assert "within 5 minutes" in client.get(f"/admin/keys/{key_id}").get_data(
        as_text=True
    )
    post(client, f"/admin/keys/{key_id}/revoke", {}, f"/admin/users/{uid}")
    assert api(client, plain) == 403


def test_key_with_expiry_and_editing(app, admin, fake):
    uid = create_user(admin, "dan")
    tomorrow = date.today() + timedelta(days=1)
    plain, key_id = create_key(admin, uid, name="ci", expires=tomorrow.isoformat())
    with app.app_context():
        assert db.session.get(ApiKey, key_id).expires_at.date() == tomorrow
    assert api(app.test_client(), plain) == 200
    past = post(
        admin,
        f"/admin/users/{uid}/keys",
        {"expires": "2001-01-01"},
        f"/admin/users/{uid}",
    )
    assert past.status_code == 400 and "later date" in past.get_data(as_text=True)

    page = f"/admin/keys/{key_id}"
    resp = post(admin, page, {"name": "ci runner", "expires": ""}, page)
    assert resp.status_code == 302
    with app.app_context():
        row = db.session.get(ApiKey, key_id)
        assert row.name == "ci runner" and row.expires_at is None
    assert ("key_updated", plain[:11]) in actions(app)
    with app.app_context():  # an expired key is refused, and shown as expired
        db.session.get(ApiKey, key_id).expires_at = datetime(2001, 1, 1)
        db.session.commit()
    assert api(app.test_client(), plain) == 403
    assert "expired" in admin.get(f"/admin/users/{uid}").get_data(as_text=True)


def test_delete_user_confirmed_removes_keys(app, admin, fake):
    uid = create_user(admin, "erin")
    plain, _ = create_key(admin, uid)
    confirm = admin.get(f"/admin/users/{uid}/delete")
    assert confirm.status_code == 200 and "1 of their keys" in confirm.get_data(
        as_text=True
    )
    resp = post(admin, f"/admin/users/{uid}/delete", {}, f"/admin/users/{uid}")
    assert resp.status_code == 302
    assert api(app.test_client(), plain) == 401
    assert admin.get(f"/admin/users/{uid}").status_code == 404
    assert ("user_deleted", "erin") in actions(app)


def test_unknown_ids_are_404(admin):
    for path in ("/admin/users/999", "/admin/keys/999", "/admin/keys/999/revoke"):
        resp = admin.get(path)
        assert resp.status_code == 404 and "does not exist" in resp.get_data(
            as_text=True
        )


def test_audit_page_lists_and_filters(app, admin):
    uid = create_user(admin, "fay")
    create_key(admin, uid, name="one")
    page = admin.get("/admin/audit").get_data(as_text=True)
    for text in ("Logged in", "User created", "Key created", "root", "127.0.0.1"):
        assert text in page
    only = admin.get("/admin/audit?action=user_created").get_data(as_text=True)
    assert "User created" in only and "Key created</td>" not in only


def test_admins_page_add_and_remove(app, admin):
    resp = post(
        admin,
        "/admin/admins",
        {"name": "helper", "password": "helper password"},
        "/admin/admins",
    )
    assert resp.status_code == 302
    weak = post(
        admin, "/admin/admins", {"name": "weak", "password": "short"}, "/admin/admins"
    )
    assert weak.status_code == 400
    helper = app.test_client()
    assert login(helper, "helper", "helper password").status_code == 302
    with app.app_context():
        ids = {
            a.name: a.id
            for a in db.session.execute(
                db.select(User).where(User.role == "admin")
            ).scalars()
        }
    self_delete = post(
        admin, f"/admin/admins/{ids['root']}/delete", {}, "/admin/admins"
    )
    assert self_delete.status_code == 302
    assert "cannot remove yourself" in admin.get("/admin/admins").get_data(as_text=True)
    post(admin, f"/admin/admins/{ids['helper']}/delete", {}, "/admin/admins")
    assert helper.get("/admin/users").status_code == 302  # their session has ended
    assert [a for a, _ in actions(app)].count("admin_deleted") == 1


@pytest.mark.needs_postgres
def test_token_manager_on_postgresql(postgres_url, fake_server, fake):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "s",
            "BACKENDS": [fake_server.url],
            "SQLALCHEMY_DATABASE_URI": postgres_url,
            "KEY_CACHE_SECONDS": 0.0,
        }
    )
    with app.app_context():
        db.create_all()
    try:
        make_admin(app)
        client = app.test_client()
        assert login(client).status_code == 302
        uid = create_user(client, "pg-user")
        plain, key_id = create_key(client, uid, name="pg")
        assert api(client, plain) == 200
        post(client, f"/admin/keys/{key_id}/revoke", {}, f"/admin/users/{uid}")
        assert api(client, plain) == 403
        with app.app_context():  # deleting an admin keeps their audit entries
            db.session.delete(
                db.session.execute(
                    db.select(User).where(User.role == "admin")
                ).scalar_one()
            )
            db.session.commit()
            rows = db.session.execute(db.select(AuditLog)).scalars().all()
            assert {r.action for r in rows} >= {"login", "key_created", "key_revoked"}
            assert all(r.admin_id is None and r.admin_name == "root" for r in rows)
    finally:
        app.extensions["ollama_gate"].recorder.flush()
        with app.app_context():
            db.engine.dispose()


def test_users_search_and_pages(app, admin, monkeypatch):
    from ollama_gate.admin import users as users_views

    monkeypatch.setattr(users_views, "PAGE_SIZE", 2)
    for name in ("ann", "bea", "Dana_x"):  # and root, the admin: a user too
        create_user(admin, name)
    first = admin.get("/admin/users").get_data(as_text=True)
    shown = re.findall(r"<strong>([^<]+)</strong></a>", first)
    assert shown == ["ann", "bea"]
    assert "Page 1 of 2" in first and "page=2" in first
    second = admin.get("/admin/users?page=2").get_data(as_text=True)
    assert re.findall(r"<strong>([^<]+)</strong></a>", second) == ["Dana_x", "root"]
    found = admin.get("/admin/users?q=dANA_").get_data(as_text=True)
    assert re.findall(r"<strong>([^<]+)</strong></a>", found) == ["Dana_x"]
    wildcard = admin.get("/admin/users?q=%25").get_data(as_text=True)  # % is literal
    assert "No user matches" in wildcard


def test_history_mode_per_key_from_the_key_pages(app, admin, fake):
    uid = create_user(admin, "hana")
    plain, key_id = create_key(admin, uid, name="private", history_mode="metadata")
    with app.app_context():
        assert db.session.get(ApiKey, key_id).history_mode == "metadata"
    page = f"/admin/keys/{key_id}"
    assert '<option selected value="metadata">' in admin.get(page).get_data(
        as_text=True
    )
    assert (
        post(admin, page, {"name": "private", "history_mode": ""}, page).status_code
        == 302
    )
    with app.app_context():
        assert db.session.get(ApiKey, key_id).history_mode is None
    bad = post(admin, page, {"name": "private", "history_mode": "everything"}, page)
    assert bad.status_code == 400
    assert ("key_updated", plain[:11]) in actions(app)


@pytest.mark.parametrize(
    "path",
    [
        "/admin/users?page=99999999999999999999",
        "/admin/audit?page=99999999999999999999",
        "/admin/users?page=-5",
        "/admin/users?page=%C2%B2",
        "/admin/users/99999999999999999999999",
        "/admin/users/99999999999999999999999/delete",
        "/admin/keys/99999999999999999999999",
        "/admin/keys/99999999999999999999999/revoke",
        "/admin/admins/99999999999999999999999/delete",
    ],
)
def test_huge_numbers_in_urls_are_never_a_500(admin, path):
    """Ids and pages past the database's integers: 404 or a page, not an overflow."""
    resp = admin.get(path)
    assert resp.status_code in (200, 404)
