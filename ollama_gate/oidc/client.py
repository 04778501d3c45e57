"""The gateway's OpenID Connect client: Authlib's Flask client, with the provider's
discovery document checked and refreshed now and then.

Authlib keeps the discovery document and the provider's keys (JWKS) in the worker's
memory; an ID token signed by a key it has not seen makes it fetch the keys again (a
provider rotates them), so only this module knows about keys at all.
"""

from __future__ import annotations

import time
from typing import Any

from authlib.integrations.flask_client import FlaskOAuth2App, OAuth
from flask import Flask, abort, current_app

from .settings import enabled

NAME = "oidc"
TIMEOUT = 10  # seconds for each call to the provider (discovery, token, keys)
DISCOVERY_SECONDS = 3600  # read the discovery document again after an hour
LEEWAY = 60  # seconds of clock difference allowed in an ID token's times
# algorithms an ID token may be signed with: the provider's keys, never a shared
# secret (HS256 with the client secret would let anyone holding it mint tokens)
ASYMMETRIC = ("RS", "PS", "ES", "Ed")


class DiscoveryError(RuntimeError):
    """The provider's discovery document is not one the gateway can trust."""


class GateClient(FlaskOAuth2App):
    """Authlib's client, checking the discovery document it loads."""

    def load_server_metadata(self) -> dict[str, Any]:
        """The discovery document: its issuer must be the configured one (OpenID
        Connect Discovery 1.0, section 4.3), and it is read again after an hour."""
        loaded = self.server_metadata.get("_loaded_at")
        if loaded is not None and time.time() - loaded > DISCOVERY_SECONDS:
            self.server_metadata.clear()
        metadata = super().load_server_metadata()
        if not metadata.get("_gate_checked"):
            issuer = current_app.config["GATE"]["OIDC_ISSUER"]
            if metadata.get("issuer", "").rstrip("/") != issuer:
                self.server_metadata.clear()
                raise DiscoveryError(
                    f"the provider names its issuer {metadata.get('issuer')!r}, "
                    f"not {issuer!r}"
                )
            algs = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
            metadata["id_token_signing_alg_values_supported"] = [
                alg for alg in algs if alg.startswith(ASYMMETRIC)
            ]
            metadata["_gate_checked"] = True
        return metadata


class GateOAuth(OAuth):
    """Authlib's registry, making ``GateClient`` clients."""

    oauth2_client_cls = GateClient


def register(app: Flask) -> None:
    """Register the provider from the settings (no network call: discovery is read
    at the first sign-in)."""
    settings = app.config["GATE"]
    oauth = GateOAuth(app)
    oauth.register(
        NAME,
        client_id=settings["OIDC_CLIENT_ID"],
        client_secret=settings["OIDC_CLIENT_SECRET"],
        server_metadata_url=settings["OIDC_ISSUER"]
        + "/.well-known/openid-configuration",
        client_kwargs={
            "scope": settings["OIDC_SCOPES"],
            "code_challenge_method": "S256",  # PKCE
            "default_timeout": TIMEOUT,
        },
    )


def provider() -> GateClient:
    """The configured provider's client (404 when none is)."""
    if not enabled():
        abort(404)
    return current_app.extensions["authlib.integrations.flask_client"].create_client(
        NAME
    )


def claims_options(client: GateClient) -> dict[str, dict]:
    """What an ID token must say: the issuer as discovery spells it (checked against
    the setting), and this client among its audience (Authlib alone checks only
    ``azp``)."""
    return {
        "iss": {"essential": True, "value": client.load_server_metadata()["issuer"]},
        "aud": {"essential": True, "value": client.client_id},
    }
