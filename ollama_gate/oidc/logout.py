"""Signing out of the provider too: when its discovery document offers an
``end_session_endpoint``, the sign-out sends the browser there with the ID token as
a hint and the login page as the way back (RP-Initiated Logout 1.0)."""

from __future__ import annotations

import logging

import requests
from flask import current_app, render_template, session, url_for

from .settings import enabled

ID_TOKEN = "oidc_id_token"  # in the session: the hint for the provider's sign-out
# a larger token would crowd the 4 KB session cookie (a provider listing many groups
# in it): then the client id names the gateway instead
MAX_HINT = 2000
log = logging.getLogger("ollama_gate.oidc")


def remember_id_token(id_token: str) -> None:
    """Keep the ID token of this sign-in for the sign-out (small ones only)."""
    session[ID_TOKEN] = id_token if len(id_token) <= MAX_HINT else ""


def provider_logout_url() -> str | None:
    """Where to send the browser to sign out of the provider too, or None (not
    signed in with it, or it offers no end-session). Read before the session ends."""
    if not enabled() or ID_TOKEN not in session:
        return None
    from .client import DiscoveryError, provider  # Authlib: only with a provider

    client = provider()
    try:
        if not client.load_server_metadata().get("end_session_endpoint"):
            return None
    except (requests.RequestException, ValueError, DiscoveryError) as exc:
        log.warning("identity provider: %s", exc)
        return None
    hint = session[ID_TOKEN] or None
    extra = {} if hint else {"client_id": client.client_id}
    return client.create_logout_url(
        post_logout_redirect_uri=url_for("admin.login", _external=True),
        id_token_hint=hint,
        **extra,
    )["url"]


def signing_out_page(url: str):
    """The page that sends the browser on to the provider's end-session (a refresh,
    not a redirect: the sign-out is a form post, and the pages' ``form-action
    'self'`` stops a form post redirected to another site)."""
    label = current_app.config["GATE"]["OIDC_LABEL"]
    return render_template("oidc/signing_out.html", url=url, label=label)
