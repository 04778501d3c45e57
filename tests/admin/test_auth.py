"""Admin login: passwords, lockout, CSRF, safe redirects, headers, sessions vs keys."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
import requests

from ollama_gate.audit import AuditLog
from ollama_gate.extensions import db
from ollama_gate.models import User
from tests.helpers.admin import PASSWORD, csrf_token, login, make_admin, post
from tests.helpers.live import LiveGateway
from tests.helpers.services import REDIS_URL


@pytest.fixture()
def admin_app(app):
    """The app with one admin, ``root``."""
    make_admin(app)
    return app


def audit(app) -> list[tuple[str, str, str, str]]:
    """(action, admin, target, address) of every audit entry, oldest first."""
    with app.app_context():
        rows = db.session.execute(db.select(AuditLog).order_by(AuditLog.id)).scalars()
        return [(r.action, r.admin_name, r.target, r.client_addr) for r in rows]


def test_pages_need_login_and_redirect_back(admin_app, client):
    for path in ("/admin/users", "/admin/audit", "/admin/admins", "/admin/keys/1"):
        resp = client.get(path)
        assert resp.status_code == 302
        assert resp.headers["Location"].startswith("/admin/login?next=")
    resp = login(client, next_url="/admin/audit")
    assert resp.status_code == 302 and resp.headers["Location"] == "/admin/audit"
    assert client.get("/admin/audit").status_code == 200


def test_login_sets_session_and_audits(admin_app, client):
    resp = login(client, environ={"REMOTE_ADDR": "10.1.2.3"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/admin/"
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    page = client.get("/admin/users").get_data(as_text=True)
    assert "root" in page and "Log out" in page
    assert audit(admin_app) == [("login", "root", "", "10.1.2.3")]
    with admin_app.app_context():
        assert (
            db.session.execute(db.select(User).where(User.role == "admin"))
            .scalar_one()
            .last_login_at
            is not None
        )


def test_session_cookie_is_secure_over_https(admin_app, client):
    # over HTTPS, Flask-WTF also wants a same-site Referer
    resp = login(
        client,
        base_url="https://localhost",
        headers={"Referer": "https://localhost/admin/login"},
    )
    assert resp.status_code == 302 and "Secure" in resp.headers["Set-Cookie"]


@pytest.mark.parametrize(
    "name,password,target",
    [
        ("root", "wrong password!", "root"),
        ("nobody", PASSWORD, "unknown name (6 chars)"),
        ("ROOT", PASSWORD, "unknown name (4 chars)"),
    ],
)
def test_bad_credentials_refused_and_audited(admin_app, client, name, password, target):
    resp = login(client, name, password)
    assert resp.status_code == 401
    assert "Wrong name or password." in resp.get_data(as_text=True)
    assert client.get("/admin/users").status_code == 302
    assert audit(admin_app) == [("login_failed", "", target, "127.0.0.1")]


def test_password_typed_as_name_never_reaches_the_audit_log(admin_app, client):
    # a password typed into the name field is the classic way one leaks into logs
    assert login(client, PASSWORD, PASSWORD).status_code == 401
    with admin_app.app_context():
        entry = db.session.execute(db.select(AuditLog)).scalar_one()
        stored = " ".join([entry.target, entry.detail, entry.admin_name])
    assert PASSWORD not in stored and PASSWORD[:4] not in stored
    assert entry.target == f"unknown name ({len(PASSWORD)} chars)"
    login(client)
    page = client.get("/admin/audit?action=login_failed").get_data(as_text=True)
    assert "unknown name" in page and PASSWORD not in page


def test_lockout_after_repeated_failures_per_address(admin_app, client):
    for _ in range(5):  # the default OLLAMA_GATE_LOGIN_RATE_LIMIT: 5/minute
        assert login(client, password="wrong password!").status_code == 401
    locked = login(client)  # even the right password is refused while locked
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) >= 1
    assert "Too many failed logins" in locked.get_data(as_text=True)
    assert client.get("/admin/users").status_code == 302
    other = admin_app.test_client()  # another address is not locked out
    ok = login(other, environ={"REMOTE_ADDR": "192.0.2.7"})
    assert ok.status_code == 302
    assert [a for a, *_ in audit(admin_app)].count("login_failed") == 5


def parallel_wrong_logins(gw: LiveGateway) -> None:
    """40 wrong passwords at once: at most the limit (5) are checked (and audited),
    every other one is refused 429 unchecked."""
    make_admin(gw.app)
    sessions = []
    for _ in range(40):  # each with its own session cookie and CSRF token
        s = requests.Session()
        page = s.get(gw.url + "/admin/login", timeout=10).text
        token = re.search(r'name="csrf_token" [^>]*value="([^"]+)"', page)
        sessions.append((s, token.group(1)))

    def guess(pair) -> int:
        s, token = pair
        form = {"name": "root", "password": "wrong password!", "csrf_token": token}
        return s.post(
            gw.url + "/admin/login", data=form, allow_redirects=False, timeout=60
        ).status_code

    with ThreadPoolExecutor(40) as pool:
        codes = list(pool.map(guess, sessions))
    assert codes.count(401) <= 5
    assert codes.count(429) == 40 - codes.count(401)
    checked = [a for a, *_ in audit(gw.app)].count("login_failed")
    assert checked == codes.count(401)


def test_parallel_wrong_logins_are_counted_before_they_are_checked(
    tmp_path, fake_server
):
    """On one live gevent worker, counters in memory."""
    gw = LiveGateway(tmp_path, fake_server.url).start()
    try:
        parallel_wrong_logins(gw)
    finally:
        gw.stop()


@pytest.mark.needs_redis
def test_parallel_wrong_logins_on_two_workers_sharing_redis(tmp_path, fake_server):
    """On two live workers, counters in Redis."""
    redis_db = REDIS_URL.rsplit("/", 1)[0] + "/13"
    redis.Redis.from_url(redis_db).flushdb()
    env = {"OLLAMA_GATE_REDIS_URL": redis_db}
    gw = LiveGateway(tmp_path, fake_server.url, env=env, workers=2).start()
    try:
        parallel_wrong_logins(gw)
    finally:
        gw.stop()


def test_successful_logins_do_not_count_towards_lockout(admin_app, client):
    for _ in range(8):
        assert login(client).status_code == 302
        post(client, "/admin/logout")
    assert login(client).status_code == 302


def test_login_limit_is_a_setting(tmp_path, fake_server):
    from ollama_gate import create_app

    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "s",
            "BACKENDS": [fake_server.url],
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'l.db'}",
            "LOGIN_RATE_LIMIT": "2/minute",
        }
    )
    with app.app_context():
        db.create_all()
    make_admin(app)
    client = app.test_client()
    assert [login(client, password="nope nope nope").status_code for _ in range(3)] == [
        401,
        401,
        429,
    ]


def test_csrf_token_required_on_every_form(admin_app, client):
    bare = client.post("/admin/login", data={"name": "root", "password": PASSWORD})
    assert bare.status_code == 400 and "expired" in bare.get_data(as_text=True)
    assert client.get("/admin/users").status_code == 302  # not logged in
    assert login(client).status_code == 302
    for path, data in [
        ("/admin/users", {"name": "mallory"}),
        ("/admin/logout", {}),
        ("/admin/users/1/keys", {"name": "x"}),
        ("/admin/keys/1/revoke", {}),
        ("/admin/admins", {"name": "evil", "password": "x" * 12}),
    ]:
        resp = client.post(path, data={**data, "csrf_token": "forged"})
        assert resp.status_code == 400, path
    assert client.get("/admin/users").status_code == 200  # still logged in
    page = client.get("/admin/users").get_data(as_text=True)
    assert "mallory" not in page


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "http:/evil.example",
        "javascript:alert(1)",
        "\\\\evil.example",
        "/%0d%0aSet-Cookie:x",
        "admin/users",
    ],
)
def test_off_site_next_is_ignored(admin_app, client, target):
    resp = login(client, next_url=target)
    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert location == "/admin/" or (
        location.startswith("/") and not location.startswith("//")
    )
    assert "evil" not in location


def test_logged_in_visit_to_login_honours_only_safe_next(admin_app, client):
    login(client)
    assert (
        client.get("/admin/login?next=/admin/audit").headers["Location"]
        == "/admin/audit"
    )
    assert (
        client.get("/admin/login?next=//evil.example").headers["Location"] == "/admin/"
    )


def test_security_headers_on_admin_pages(admin_app, client):
    for resp in (client.get("/admin/login"), login(client), client.get("/admin/users")):
        csp = resp.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Cache-Control"] == "no-store"
    page = client.get("/admin/users").get_data(as_text=True)
    assert (
        "<script>" not in page and " style=" not in page
    )  # nothing inline for the CSP
    assert client.get("/static/gate.js").status_code == 200
    assert client.get("/static/gate.css").status_code == 200


def test_admin_session_never_authorises_api_calls(admin_app, client, fake):
    assert login(client).status_code == 302
    assert client.get("/admin/users").status_code == 200
    for path in ("/api/tags", "/v1/models"):
        assert client.get(path).status_code == 401
    assert (
        client.post("/api/generate", json={"model": "m", "prompt": "hi"}).status_code
        == 401
    )
    assert fake.calls() == []


def test_api_key_never_opens_admin_pages(admin_app, client, key):
    for headers in (
        {"Authorization": f"Bearer {key}"},
        {"X-API-Key": key},
        {"apikey": key},
    ):
        resp = client.get("/admin/users", headers=headers)
        assert resp.status_code == 302 and "/admin/login" in resp.headers["Location"]
    # and the API itself still takes the key without any CSRF token
    assert client.get("/api/tags", headers={"X-API-Key": key}).status_code == 200


def test_logout_ends_session(admin_app, client):
    login(client)
    resp = post(client, "/admin/logout")
    assert resp.status_code == 302 and resp.headers["Location"] == "/admin/login"
    assert client.get("/admin/users").status_code == 302
    assert [a for a, *_ in audit(admin_app)] == ["login", "logout"]


def test_password_change_ends_other_sessions(admin_app, client):
    other = admin_app.test_client()
    login(client)
    login(other)
    wrong = post(
        client,
        "/admin/account",
        {"current": "not it at all", "password": "x" * 12, "confirm": "x" * 12},
        "/admin/account",
    )
    assert wrong.status_code == 200 and "not your current password" in wrong.get_data(
        as_text=True
    )
    ok = post(
        client,
        "/admin/account",
        {
            "current": PASSWORD,
            "password": "new password 1",
            "confirm": "new password 1",
        },
        "/admin/account",
    )
    assert ok.status_code == 302
    assert client.get("/admin/users").status_code == 200  # this session continues
    assert other.get("/admin/users").status_code == 302  # the other one has ended
    assert login(other, password="new password 1").status_code == 302


def test_deleted_admin_loses_session(admin_app, client, runner):
    make_admin(admin_app, "second")
    login(client, "second")
    assert client.get("/admin/users").status_code == 200
    assert runner.invoke(args=["admins", "delete", "second", "--yes"]).exit_code == 0
    assert client.get("/admin/users").status_code == 302
    assert csrf_token(client)  # the login page still renders for the stale session


def _app_with(tmp_path, fake_server, **settings):
    """A fresh app with extra settings, and the admin ``root``."""
    from ollama_gate import create_app

    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "s",
            "BACKENDS": [fake_server.url],
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'p.db'}",
            **settings,
        }
    )
    with app.app_context():
        db.create_all()
    make_admin(app)
    return app


def test_trusted_proxy_gives_client_address_and_https(tmp_path, fake_server):
    app = _app_with(
        tmp_path,
        fake_server,
        TRUSTED_PROXIES="127.0.0.1",
        LOGIN_RATE_LIMIT="1/minute",
    )
    one = {"X-Forwarded-For": "203.0.113.9"}
    client = app.test_client()
    assert login(client, password="wrong wrong wrong", headers=one).status_code == 401
    assert login(client, headers=one).status_code == 429  # that address is locked
    two = {
        "X-Forwarded-For": "203.0.113.10",
        "X-Forwarded-Proto": "https",
        "Referer": "https://localhost/admin/login",
    }
    resp = login(client, headers=two)
    assert resp.status_code == 302 and "Secure" in resp.headers["Set-Cookie"]
    assert [(a, addr) for a, _, _, addr in audit(app)] == [
        ("login_failed", "203.0.113.9"),
        ("login", "203.0.113.10"),
    ]


def test_forwarded_headers_ignored_without_trusted_proxies(tmp_path, fake_server):
    app = _app_with(tmp_path, fake_server, LOGIN_RATE_LIMIT="1/minute")
    client = app.test_client()
    login(
        client,
        password="wrong wrong wrong",
        headers={"X-Forwarded-For": "198.51.100.1"},
    )
    spoofed = login(client, headers={"X-Forwarded-For": "198.51.100.2"})
    assert spoofed.status_code == 429  # a forged header does not escape the lockout
    assert audit(app)[0][3] == "127.0.0.1"


@pytest.mark.parametrize("name", ["root\x00", "\x00"])
def test_nul_in_the_login_form_is_400(admin_app, client, name):
    """PostgreSQL cannot compare text with NUL: the public form answered 500 there."""
    resp = login(client, name=name)
    assert resp.status_code == 400
    assert "Set-Cookie" not in resp.headers or "session=;" in resp.headers["Set-Cookie"]


@pytest.mark.parametrize(
    "path",
    ["/admin/users?q=a%00b", "/admin/audit?action=%00", "/admin/login?next=/%00"],
)
def test_nul_in_admin_queries_is_400(admin_app, client, path):
    assert login(client).status_code == 302
    assert client.get(path).status_code == 400


def test_nul_in_admin_forms_is_400_and_changes_nothing(admin_app, client):
    assert login(client).status_code == 302
    for data in ({"name": "al\x00ice"}, {"name": "alice", "x\x00": "1"}):
        assert post(client, "/admin/users", data).status_code == 400
    with admin_app.app_context():
        from ollama_gate.models import User

        assert (
            db.session.execute(db.select(User).where(User.name != "root")).first()
            is None
        )


def test_api_calls_skip_the_admin_extensions_hooks(admin_app, client, monkeypatch):
    """CSRF and the login limiter guard the admin pages, not calls that carry a key."""
    from flask import request
    from flask_wtf.csrf import CSRFProtect

    from tests.helpers.keys import add_key

    seen = []
    protect = CSRFProtect.protect
    monkeypatch.setattr(
        CSRFProtect,
        "protect",
        lambda self, **kw: (seen.append(request.path), protect(self, **kw))[1],
    )
    key = add_key(admin_app)
    body = {"model": "llama3.2", "prompt": "Hi", "stream": False}
    for _ in range(7):  # more than the login limit of 5 a minute
        resp = client.post(
            "/api/generate", json=body, headers={"Authorization": f"Bearer {key}"}
        )
        assert resp.status_code == 200
        assert "X-RateLimit-Limit" not in resp.headers  # the login limiter's headers
    assert seen == []
    assert login(client).status_code == 302  # the admin side still runs them
    assert seen and set(seen) == {"/admin/login"}
    resp = client.post("/admin/logout", data={})  # and still refuses a missing token
    assert resp.status_code == 400


def test_a_cookie_copied_before_logout_stops_working(admin_app, client):
    """Issue 16: logout ended only the browser's copy of the session."""
    login(client)
    copied = client.get_cookie("session").value
    post(client, "/admin/logout")
    thief = admin_app.test_client()
    thief.set_cookie("session", copied)
    assert thief.get("/admin/users").status_code == 302  # back to the login page


def test_sessions_end_after_their_absolute_lifetime(admin_app, client):
    import time

    login(client)
    assert client.get("/admin/users").status_code == 200
    with client.session_transaction() as sess:
        sess["login_at"] = time.time() - 25 * 3600  # active all along, but 25 h old
    assert client.get("/admin/users").status_code == 302
