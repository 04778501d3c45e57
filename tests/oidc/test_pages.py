"""The sign-in pages without a provider: the login page's button, the pages that are
not there until a provider is set, a provider that cannot be reached, the settings
that must come together, and the client secret never shown."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ollama_gate import create_app
from ollama_gate.web import CSP
from tests.helpers.admin import login, make_admin
from tests.helpers.paths import ROOT

DISCARD = "http://127.0.0.1:9"  # nothing listens on the discard port
SSO = {
    "OIDC_ISSUER": DISCARD,
    "OIDC_CLIENT_ID": "gate",
    "OIDC_CLIENT_SECRET": "the-client-secret-value",
    "OIDC_LABEL": "Acme SSO",
}


def test_no_button_and_no_pages_without_a_provider(client):
    page = client.get("/admin/login").get_data(as_text=True)
    assert "Sign in with" not in page
    assert client.get("/auth/oidc/login").status_code == 404
    assert client.get("/auth/oidc/callback?code=x&state=y").status_code == 404


def test_without_a_provider_no_worker_loads_authlib():
    """Authlib and the cryptography under it cost a worker about 11 MB: a gateway
    with no provider set never imports them (a fresh interpreter, serving a page
    and signing out through the same code as a provider's)."""
    script = (
        "import sys, tempfile\n"
        "from ollama_gate import create_app\n"
        "d = tempfile.mkdtemp()\n"
        "app = create_app({'SQLALCHEMY_DATABASE_URI': f'sqlite:///{d}/g.db',"
        " 'SECRET_KEY': 'x' * 32, 'TESTING': True})\n"
        "c = app.test_client()\n"
        "assert c.get('/admin/login').status_code == 200\n"
        "c.post('/admin/logout')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in"
        " ('authlib', 'joserfc', 'cryptography')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


def test_the_login_page_offers_the_provider_as_a_link(tmp_path, fake_server):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'g.db'}",
            **SSO,
        }
    )
    page = app.test_client().get("/admin/login?next=/history").get_data(as_text=True)
    # a link, a GET: form-action 'self' would stop a form posting to the provider
    assert "form-action 'self'" in CSP
    assert 'href="/auth/oidc/login?next=/history"' in page
    assert "Sign in with Acme SSO" in page


def test_an_unreachable_provider_gets_a_page_not_an_error(tmp_path, fake_server):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'g.db'}",
            **SSO,
        }
    )
    r = app.test_client().get("/auth/oidc/login")
    assert r.status_code == 502
    assert "cannot be reached" in r.get_data(as_text=True)
    assert r.headers["Content-Security-Policy"] == CSP


@pytest.mark.parametrize("missing", ["OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET"])
def test_an_issuer_needs_a_client_id_and_secret(tmp_path, missing):
    settings = {**SSO, missing: ""}
    with pytest.raises(RuntimeError, match=f"OLLAMA_GATE_{missing}"):
        create_app(
            {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'g.db'}", **settings}
        )


def test_an_http_issuer_elsewhere_is_refused_at_start(monkeypatch):
    from ollama_gate.config import load_settings

    with pytest.raises(RuntimeError, match="OLLAMA_GATE_OIDC_ISSUER"):
        load_settings({"OLLAMA_GATE_OIDC_ISSUER": "http://idp.example.com"})


def test_the_settings_page_shows_the_client_secret_as_set_only(
    app, client, monkeypatch
):
    monkeypatch.setenv("OLLAMA_GATE_OIDC_CLIENT_SECRET", "the-client-secret-value")
    make_admin(app)
    login(client)
    page = client.get("/admin/settings").get_data(as_text=True)
    assert "OLLAMA_GATE_OIDC_CLIENT_SECRET" in page
    assert "the-client-secret-value" not in page


def test_with_passwords_off_the_provider_is_the_only_way_in(tmp_path, fake_server):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'g.db'}",
            "LOCAL_PASSWORDS": False,
            **SSO,
        }
    )
    page = app.test_client().get("/admin/login").get_data(as_text=True)
    assert "Sign in with Acme SSO" in page
    assert 'type="password"' not in page and "or with a password" not in page


def test_a_sign_in_begun_too_long_ago_is_refused(tmp_path, fake_server):
    import time

    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'g.db'}",
            **SSO,
        }
    )
    with app.app_context():
        from ollama_gate.extensions import db

        db.create_all()
    client = app.test_client()
    with client.session_transaction() as session:
        session["oidc_started"] = time.time() - 601
    r = client.get("/auth/oidc/callback?code=c&state=s")
    assert r.status_code == 400 and "last 10 min" in r.get_data(as_text=True)
    with client.session_transaction() as session:
        session["oidc_started"] = time.time()
    # begun just now: the gateway goes on to the provider (here one nobody runs)
    r = client.get("/auth/oidc/callback?code=c&state=s")
    assert r.status_code == 502
