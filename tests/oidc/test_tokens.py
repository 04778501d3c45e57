"""What the gateway refuses on the way back from the provider: a forged ``state``, a
callback in another browser, and ID tokens with a wrong nonce, another key's
signature, an expired time, another audience or issuer. The tokens are the real
provider's, changed on their way by a proxy in front of its token endpoint and
signed again (with the provider's own key unless the test is about the key); the
provider's real discovery and keys do the rest. Rotated keys are fetched again."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests
from joserfc.jwk import RSAKey

from tests.helpers.oidc import CLIENT_ID, password_of
from tests.helpers.oidc_flow import sign_in, to_callback

pytestmark = pytest.mark.needs_oidc_provider


def refused(r: requests.Response) -> bool:
    """The gateway's page for a sign-in that failed a check, and no session."""
    return r.status_code == 400 and "Sign-in failed" in r.text


def still_out(s: requests.Session, gw) -> bool:
    """The browser is not signed in at the gateway."""
    return s.get(gw.url + "/admin/account", allow_redirects=False).status_code == 302


def with_param(url: str, **changes: str) -> str:
    """``url`` with query parameters changed."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query)) | changes
    return parts._replace(query=urlencode(query)).geturl()


def other_key() -> str:
    """A private key that is not the provider's, as PEM."""
    return RSAKey.generate_key(2048).as_pem(private=True).decode()


def alice(provider, gw) -> tuple[requests.Session, requests.Response]:
    """Alice signs in (with whatever the proxy does to the token)."""
    s = requests.Session()
    return s, sign_in(s, gw.url, "alice", password_of("alice"))


def test_a_token_signed_again_unchanged_is_accepted(sso_gateway, provider):
    # the control: the proxy and the forging work, so the refusals below are the
    # gateway's checks and nothing else
    provider.tamper(lambda token: provider.forge(token))
    s, r = alice(provider, sso_gateway)
    assert urlsplit(r.url).path == "/portal/"  # signed in: where members land
    assert not still_out(s, sso_gateway)


def test_the_request_carries_a_pkce_challenge_state_and_nonce(sso_gateway, provider):
    r = requests.get(sso_gateway.url + "/auth/oidc/login", allow_redirects=False)
    query = dict(parse_qsl(urlsplit(r.headers["Location"]).query))
    assert query["response_type"] == "code" and query["client_id"] == CLIENT_ID
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43  # base64url of a SHA-256
    assert len(query["state"]) >= 20 and len(query["nonce"]) >= 20
    assert "code_verifier" not in r.headers["Location"]


def test_a_callback_used_twice_is_refused_the_second_time(sso_gateway, provider):
    s = requests.Session()
    callback = to_callback(s, sso_gateway.url, "alice", password_of("alice"))
    assert urlsplit(s.get(callback).url).path == "/portal/"
    assert refused(s.get(callback))  # its state was used up


def test_a_forged_state_is_refused(sso_gateway, provider):
    s = requests.Session()
    callback = to_callback(s, sso_gateway.url, "alice", password_of("alice"))
    r = s.get(with_param(callback, state="forged-by-someone"))
    assert refused(r) and "state" in r.text.lower()
    assert still_out(s, sso_gateway)


def test_a_callback_in_another_browser_is_refused(sso_gateway, provider):
    # an attacker's own code and state, sent to the victim (login CSRF)
    callback = to_callback(
        requests.Session(), sso_gateway.url, "alice", password_of("alice")
    )
    victim = requests.Session()
    assert refused(victim.get(callback))
    assert still_out(victim, sso_gateway)


@pytest.mark.parametrize(
    "why, change",
    [
        ("a wrong nonce", {"nonce": "not-the-one-sent"}),
        ("expired", {"exp": "past", "iat": "older"}),
        ("another audience", {"aud": "someone-else", "azp": CLIENT_ID}),
        ("another issuer", {"iss": "https://idp.example.com"}),
        ("no subject", {"sub": None}),
    ],
)
def test_a_token_with_wrong_claims_is_refused(sso_gateway, provider, why, change):
    now = int(time.time())
    times = {"past": now - 600, "older": now - 1200}  # past the 60 s leeway
    claims = {k: times.get(v, v) for k, v in change.items()}
    provider.tamper(lambda token: provider.forge(token, **claims))
    s, r = alice(provider, sso_gateway)
    assert refused(r), why
    assert still_out(s, sso_gateway)


def test_a_token_expired_within_the_leeway_is_accepted(sso_gateway, provider):
    now = int(time.time())
    provider.tamper(lambda token: provider.forge(token, exp=now - 5))
    s, r = alice(provider, sso_gateway)
    assert urlsplit(r.url).path == "/portal/" and not still_out(s, sso_gateway)


def test_a_token_signed_by_another_key_is_refused(sso_gateway, provider):
    key = other_key()
    provider.tamper(lambda token: provider.forge(token, key_pem=key))  # same kid
    s, r = alice(provider, sso_gateway)
    assert refused(r) and still_out(s, sso_gateway)


def test_an_unknown_key_id_fetches_the_keys_again_and_is_still_refused(
    sso_gateway, provider
):
    alice(provider, sso_gateway)  # the gateway has the keys now
    key, before = other_key(), provider.proxy.paths.count("/openid/jwks")
    provider.tamper(lambda token: provider.forge(token, key_pem=key, kid="made-up"))
    s, r = alice(provider, sso_gateway)
    assert refused(r) and still_out(s, sso_gateway)
    assert provider.proxy.paths.count("/openid/jwks") == before + 1


def test_rotated_keys_are_fetched_again(sso_gateway, provider):
    alice(provider, sso_gateway)  # the gateway has the old key
    before = provider.proxy.paths.count("/openid/jwks")
    new_kid = provider.rotate_key()
    assert provider.signing_key()[1] == new_kid
    s, r = alice(provider, sso_gateway)
    assert urlsplit(r.url).path == "/portal/" and not still_out(s, sso_gateway)
    assert provider.proxy.paths.count("/openid/jwks") == before + 1
    # and the next sign-in uses the keys it has
    alice(provider, sso_gateway)
    assert provider.proxy.paths.count("/openid/jwks") == before + 1
