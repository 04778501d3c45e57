"""The issue's whole path, end to end: a person signs in with the company's identity
provider (the real one on loopback), lands in their team, makes a key for their laptop
in the portal within the rules an admin set once for the team, is refused past them,
and the key works on the API and is charged to them; the audit log proves it all."""

from __future__ import annotations

import re
from datetime import date, timedelta
from urllib.parse import urlsplit

import pytest
import requests

from ollama_gate.audit import AuditLog
from ollama_gate.extensions import db
from ollama_gate.history.models import Request
from ollama_gate.models import Team, User
from tests.helpers.live import wait_for
from tests.helpers.oidc import password_of, start_gateway
from tests.helpers.oidc_flow import sign_in

pytestmark = pytest.mark.needs_oidc_provider

TOKEN = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
SECRET = re.compile(r'<code id="new-key">(og_[^<]+)</code>')
CHAT = {"model": "llama3.2", "messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture(scope="module")
def gateway(idp, tmp_path_factory, fake_server):
    """A gateway whose team Research allows three keys each, 30 days at most with an
    expiry required, and llama3 models only (set once by an admin, before anyone
    signs in)."""
    gw = start_gateway(idp, tmp_path_factory.mktemp("portal-sso"), fake_server.url)
    with gw.app.app_context():
        db.session.add(
            Team(
                name="Research",
                portal_max_keys=3,
                portal_max_days=30,
                portal_expiry_required=True,
                portal_models="llama3*",
            )
        )
        db.session.commit()
    yield gw
    gw.stop()


def new_key(s: requests.Session, gw, **fields) -> requests.Response:
    """Post the portal's new-key form with its CSRF token (no redirect followed)."""
    token = TOKEN.search(s.get(gw.url + "/portal/").text).group(1)
    return s.post(
        gw.url + "/portal/keys",
        data={**fields, "csrf_token": token},
        allow_redirects=False,
    )


def test_a_person_signs_in_and_makes_a_working_key_within_the_team_rules(
    gateway, provider
):
    gw, s = gateway, requests.Session()
    landed = sign_in(s, gw.url, "alice", password_of("alice"))
    assert urlsplit(landed.url).path == "/portal/"
    soon = (date.today() + timedelta(days=7)).isoformat()

    made = new_key(s, gw, name="laptop", expires=soon, models="llama3.2")
    assert made.status_code == 303, made.text
    page = s.get(gw.url + made.headers["Location"]).text
    secret = SECRET.search(page).group(1)
    answer = requests.post(
        gw.url + "/api/chat",
        json={**CHAT, "stream": False},
        headers={"Authorization": f"Bearer {secret}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text

    # past the rules: each refused with its reason, nothing made
    outside = new_key(s, gw, name="x", expires=soon, models="qwen2.5:7b")
    assert outside.status_code == 403
    forever = new_key(s, gw, name="x", expires="", models="llama3.2")
    assert forever.status_code == 403
    for name in ("desk", "phone"):
        assert new_key(s, gw, name=name, expires=soon).status_code == 303
    fourth = new_key(s, gw, name="tablet", expires=soon)
    assert fourth.status_code == 403

    def charged() -> set[int]:  # the gateway records in the background
        with gw.app.app_context():
            query = db.select(Request.user_id).where(Request.path == "/api/chat")
            return set(db.session.execute(query).scalars())

    with gw.app.app_context():
        alice = db.session.execute(
            db.select(User).where(User.name == "alice")
        ).scalar_one()
        assert (alice.team.name, len(alice.keys)) == ("Research", 3)
        actions = [
            (row.action, row.admin_name)
            for row in db.session.execute(
                db.select(AuditLog).order_by(AuditLog.id)
            ).scalars()
        ]
    assert alice.id in wait_for(charged)  # charged to the person who signed in
    # the audit log proves it: signed in by the provider, the key made by alice
    # herself (no admin), and the refusals
    assert ("login", "alice") in actions
    assert actions.count(("key_created", "alice")) == 3
    assert actions.count(("key_refused", "alice")) == 3
