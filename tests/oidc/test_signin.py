"""Signing in through a real OpenID provider (django-oidc-provider on loopback) to a
live gateway under gunicorn: people land in the team their group maps to with the
role mapped, the rules are applied again at each sign-in, unknown people are refused
or admitted as the settings say, and accounts made before are linked by name once."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests

from ollama_gate import create_app
from ollama_gate.audit import AuditLog
from ollama_gate.extensions import db
from ollama_gate.models import User
from tests.helpers.oidc import CLIENT_SECRET, gateway_env, password_of
from tests.helpers.oidc_flow import sign_in, to_callback

pytestmark = pytest.mark.needs_oidc_provider


def account(gw, name: str) -> User | None:
    """The gateway's account ``name`` (its team loaded), or None."""
    with gw.app.app_context():
        user = db.session.execute(
            db.select(User).where(User.name == name)
        ).scalar_one_or_none()
        if user is not None:
            _ = user.team
            db.session.expunge(user)
        return user


def audit(gw, action: str, target: str | None = None) -> list[AuditLog]:
    """The audit rows of ``action`` (on ``target``), oldest first (detached)."""
    with gw.app.app_context():
        query = db.select(AuditLog).where(AuditLog.action == action)
        if target is not None:
            query = query.where(AuditLog.target == target)
        rows = list(db.session.execute(query.order_by(AuditLog.id)).scalars())
        db.session.expunge_all()
        return rows


def signed_in_as(s: requests.Session, gw) -> bool:
    """True when the session's cookie opens a page only signed-in people see."""
    r = s.get(gw.url + "/admin/account", allow_redirects=False)
    return r.status_code == 200


def test_a_person_lands_in_the_team_their_group_maps_to(sso_gateway, provider):
    gw, s = sso_gateway, requests.Session()
    r = sign_in(s, gw.url, "alice", password_of("alice"))
    assert urlsplit(r.url).path == "/portal/"  # a member's landing page
    alice = account(gw, "alice")
    assert (alice.role, alice.team.name) == ("member", "Research")
    assert alice.oidc_subject.startswith(provider.issuer + " ")
    assert alice.password_hash is None  # nothing to guess at the gateway
    assert signed_in_as(s, gw)
    page = s.get(gw.url + "/admin/account").text  # no current password to ask for
    assert "identity provider" in page and 'name="current"' not in page
    created = audit(gw, "user_created", "alice")
    assert created[-1].admin_name == "identity provider"
    assert "team: none → Research" in created[-1].detail
    login = audit(gw, "login")[-1]
    assert (login.admin_name, login.detail) == ("alice", "method=oidc")


def test_the_role_map_makes_a_team_admin_who_lands_on_the_admin_pages(
    sso_gateway, provider
):
    gw, s = sso_gateway, requests.Session()
    r = sign_in(s, gw.url, "bob", password_of("bob"))
    bob = account(gw, "bob")
    assert (bob.role, bob.team.name) == ("team_admin", "Operations")
    # a team admin lands on their team's page
    assert urlsplit(r.url).path == f"/admin/teams/{bob.team_id}"


def test_each_sign_in_applies_the_groups_again_and_audits_the_change(
    sso_gateway, provider
):
    gw = sso_gateway
    sign_in(requests.Session(), gw.url, "bob", password_of("bob"))
    provider.set_groups("bob", ["research"])  # left ops and leads at the provider
    try:
        r = sign_in(requests.Session(), gw.url, "bob", password_of("bob"))
        assert urlsplit(r.url).path == "/portal/"
        bob = account(gw, "bob")
        assert (bob.role, bob.team.name) == ("member", "Research")
        change = audit(gw, "user_updated", "bob")[-1]
        assert "role: team_admin → member" in change.detail
        assert "team: Operations → Research" in change.detail
    finally:
        provider.set_groups("bob", ["ops", "leads"])


def test_a_person_in_no_mapped_group_is_refused(sso_gateway, provider):
    gw, s = sso_gateway, requests.Session()
    r = sign_in(s, gw.url, "carol", password_of("carol"))
    assert r.status_code == 403
    assert "Sign-in refused" in r.text and "none of the groups" in r.text
    assert account(gw, "carol") is None
    assert not signed_in_as(s, gw)
    assert CLIENT_SECRET not in gw.log_path.read_text()  # never logged
    refused = audit(gw, "login_refused", "carol")[-1]
    assert "none of the groups" in refused.detail


def test_unknown_people_are_admitted_into_the_default_team_when_allowed(
    open_gateway, provider
):
    gw, s = open_gateway, requests.Session()
    r = sign_in(s, gw.url, "carol", password_of("carol"))
    assert urlsplit(r.url).path == "/portal/"
    carol = account(gw, "carol")
    assert (carol.role, carol.team.name) == ("member", "Everyone")
    assert signed_in_as(s, gw)


def test_an_account_made_before_is_linked_by_name_once(open_gateway, provider):
    gw = open_gateway
    gw.key("bob", name="laptop")  # bob had a key before single sign-on
    before = account(gw, "bob")
    assert before.oidc_subject is None
    sign_in(requests.Session(), gw.url, "bob", password_of("bob"))
    bob = account(gw, "bob")
    assert bob.id == before.id and bob.oidc_subject.startswith(provider.issuer)
    assert (
        audit(gw, "user_updated", "bob")[0].detail == "linked to the identity provider"
    )


def test_a_name_taken_by_another_provider_account_is_not_merged(open_gateway, provider):
    gw = open_gateway
    with gw.app.app_context():
        db.session.add(User(name="alice", oidc_subject="https://elsewhere.example 9"))
        db.session.commit()
    s = requests.Session()
    r = sign_in(s, gw.url, "alice", password_of("alice"))
    assert r.status_code == 403 and "belongs to another account" in r.text
    assert account(gw, "alice").oidc_subject == "https://elsewhere.example 9"
    assert not signed_in_as(s, gw)


def test_declining_at_the_provider_signs_no_one_in(sso_gateway, provider):
    gw, s = sso_gateway, requests.Session()
    callback = to_callback(s, gw.url, "alice", password_of("alice"), allow=False)
    r = s.get(callback)
    assert r.status_code == 400 and "access_denied" in r.text
    assert not signed_in_as(s, gw)
    assert "access_denied" in audit(gw, "login_failed")[-1].detail


def test_a_discovery_document_naming_another_issuer_is_refused(
    provider, tmp_path, fake_server
):
    # the provider is reached, but says it is http://localhost:..., not 127.0.0.1
    issuer = provider.issuer.replace("localhost", "127.0.0.1")
    app = create_app(
        {
            "SECRET_KEY": "test-secret",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'g.db'}",
            **{
                k.removeprefix("OLLAMA_GATE_"): v
                for k, v in gateway_env(provider).items()
            },
            "OIDC_ISSUER": issuer,
        }
    )
    r = app.test_client().get("/auth/oidc/login")
    assert r.status_code == 502 and "cannot be reached" in r.get_data(as_text=True)
    assert "Location" not in r.headers
