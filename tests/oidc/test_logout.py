"""Signing out: the gateway's session ends on the server (a copy of the cookie opens
nothing), and the browser is sent on to the provider's end-session endpoint with the
ID token as a hint and the login page as the way back; the provider's session ends
too. A password sign-in's sign-out never goes to the provider."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.helpers.admin import PASSWORD, make_admin
from tests.helpers.oidc import password_of
from tests.helpers.oidc_flow import forms_of, sign_in

pytestmark = pytest.mark.needs_oidc_provider
REFRESH = re.compile(r'http-equiv="refresh" content="0; url=([^"]+)"')


def log_out(s: requests.Session, gw) -> requests.Response:
    """Press "Log out" on one's account page (a form post with its CSRF token)."""
    page = s.get(gw.url + "/admin/account")
    form = next(f for f in forms_of(page.text) if f["action"].endswith("/logout"))
    return s.post(gw.url + form["action"], data=form["inputs"], allow_redirects=False)


def test_sign_out_ends_the_session_and_goes_to_the_providers_end_session(
    sso_gateway, provider
):
    gw, s = sso_gateway, requests.Session()
    sign_in(s, gw.url, "bob", password_of("bob"))
    copy = requests.Session()
    copy.cookies.update(s.cookies)  # someone kept the cookie
    assert copy.get(gw.url + "/admin/account", allow_redirects=False).status_code == 200

    r = log_out(s, gw)
    # a page that moves on by itself: a redirect from a form post to another site
    # is what the pages' form-action 'self' forbids
    assert r.status_code == 200
    target = html.unescape(REFRESH.search(r.text).group(1))
    assert target.startswith(provider.issuer + "/end-session")
    query = parse_qs(urlsplit(target).query)
    assert query["post_logout_redirect_uri"] == [gw.url + "/admin/login"]
    assert query["id_token_hint"][0].count(".") == 2  # a JWT

    back = s.get(target)  # the provider signs bob out and sends him back
    assert back.url.startswith(gw.url + "/admin/login")
    assert copy.get(gw.url + "/admin/account", allow_redirects=False).status_code == 302
    # the provider's own session ended too: it asks for the password again
    start = s.get(gw.url + "/auth/oidc/login")
    assert "password" in forms_of(start.text)[0]["inputs"]


def test_a_password_sign_out_stays_at_the_gateway(sso_gateway, provider):
    gw, s = sso_gateway, requests.Session()
    make_admin(gw.app, "local-admin")
    page = s.get(gw.url + "/admin/login")
    form = next(f for f in forms_of(page.text) if "password" in f["inputs"])
    data = {**form["inputs"], "name": "local-admin", "password": PASSWORD}
    assert s.post(gw.url + "/admin/login", data=data).status_code == 200
    r = log_out(s, gw)
    assert r.status_code == 302
    assert urlsplit(r.headers["Location"]).path == "/admin/login"
