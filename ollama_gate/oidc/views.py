"""The sign-in pages: ``/auth/oidc/login`` sends the browser to the provider (a link,
a GET: the pages' ``form-action 'self'`` would stop a form posting there), and
``/auth/oidc/callback`` is where the provider sends it back (a top-level GET, which
the ``SameSite=Lax`` session cookie comes along with)."""

from __future__ import annotations

import logging
import time

import requests
from authlib.integrations.base_client import OAuthError
from flask import Blueprint, redirect, render_template, request, session, url_for
from joserfc.errors import JoseError

from ..accounts.sessions import landing_url, start_session
from ..audit import record
from ..extensions import db
from ..web import add_security_headers, is_safe_next
from .client import LEEWAY, DiscoveryError, claims_options, provider
from .logout import remember_id_token
from .people import Refusal, admit

bp = Blueprint("oidc", __name__, url_prefix="/auth/oidc")
bp.after_request(add_security_headers)
log = logging.getLogger("ollama_gate.oidc")
NEXT = "oidc_next"  # in the session: where to go after signing in
STARTED = "oidc_started"  # in the session: when the last sign-in began (Unix time)
STATE_SECONDS = 600  # a sign-in started and not finished within ten minutes is void


@bp.get("/login")
def login():
    """Start signing in: to the provider, with state, nonce and a PKCE challenge
    kept in this browser's session."""
    client = provider()
    target = request.args.get("next")
    session[NEXT] = target if is_safe_next(target) else ""
    session[STARTED] = time.time()
    try:
        rv = client.create_authorization_url(url_for("oidc.callback", _external=True))
    except (requests.RequestException, ValueError, DiscoveryError) as exc:
        return unreachable(exc)
    client.framework.expires_in = STATE_SECONDS  # Authlib drops stale states then
    # only what the callback needs (Authlib would keep the whole URL too)
    client.save_authorize_data(
        redirect_uri=url_for("oidc.callback", _external=True),
        state=rv["state"],
        nonce=rv["nonce"],
        code_verifier=rv["code_verifier"],
    )
    return redirect(rv["url"])


@bp.get("/callback")
def callback():
    """Back from the provider: check state, code (PKCE), the ID token's signature,
    issuer, audience, expiry and nonce; then the rules; then a session."""
    client = provider()
    started = session.get(STARTED)
    if not isinstance(started, (int, float)) or time.time() - started > STATE_SECONDS:
        # Authlib keeps a state until it is used: the age is the gateway's check
        return failed(OAuthError("expired", "no sign-in begun here in the last 10 min"))
    try:
        token = client.authorize_access_token(
            claims_options=claims_options(client), leeway=LEEWAY
        )
        claims = dict(token.get("userinfo") or {})
        if not claims:
            raise OAuthError(description="the provider sent no ID token")
        claims = {**userinfo(client, token, claims["sub"]), **claims}
    except (OAuthError, JoseError) as exc:
        return failed(exc)
    except (requests.RequestException, ValueError, DiscoveryError) as exc:
        return unreachable(exc)
    person = admit(claims, client.load_server_metadata()["issuer"])
    if isinstance(person, Refusal):
        db.session.commit()  # the refusal's audit row
        return render_template(
            "oidc/refused.html", reason=person.reason, title="Sign-in refused"
        ), 403
    target = session.pop(NEXT, "") or landing_url(person)
    start_session(person, "oidc")  # commits the account's changes with the login
    remember_id_token(token["id_token"])
    return redirect(target)


def userinfo(client, token: dict, sub: str) -> dict:
    """The userinfo endpoint's claims (many providers name people only there), if
    the provider has one; they must be about the ID token's subject."""
    if not client.load_server_metadata().get("userinfo_endpoint"):
        return {}
    info = dict(client.userinfo(token=token))
    if info.get("sub") != sub:
        raise OAuthError(description="userinfo is about another subject")
    return info


def failed(exc: Exception):
    """A sign-in that failed a check (state, nonce, signature, a provider error):
    audited, and a page saying so."""
    said = [getattr(exc, "error", None), getattr(exc, "description", None)]
    said = [text for text in said if text] or [str(exc)]
    detail = ": ".join([type(exc).__name__, *filter(None, said)])[:180]
    record("login_failed", "identity provider", detail, admin_name="")
    db.session.commit()
    return render_template(
        "oidc/refused.html",
        title="Sign-in failed",
        reason="The sign-in with the identity provider did not complete or did "
        "not pass the gateway's checks, so no one was signed in. Start again "
        "from the login page.",
        detail=detail,
    ), 400


def unreachable(exc: Exception):
    """The provider could not be reached or answered nonsense."""
    log.warning("identity provider: %s", exc)
    return render_template(
        "oidc/refused.html",
        title="The identity provider cannot be reached",
        reason="Try again in a moment; if it lasts, tell your admin.",
    ), 502
