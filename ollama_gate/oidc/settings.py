"""Settings rows of sign-in with an OpenID Connect provider (see
``ollama_gate/settings.py``)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, current_app

from ..settings import Row, parse_bool, parse_list

ROLES = ("admin", "team_admin", "member")  # accounts.roles.ROLES, strongest first
LOOPBACK = ("localhost", "127.0.0.1", "::1")


def parse_issuer(value: str) -> str:
    """An issuer URL: https, or http on this machine only (a test provider)."""
    v = value.strip().rstrip("/")
    if not v:
        return ""
    parts = urlsplit(v)
    if parts.scheme == "https" and parts.hostname:
        return v
    if parts.scheme == "http" and parts.hostname in LOOPBACK:
        return v
    raise ValueError(f"{value!r} is not an https URL (http only on localhost)")


def parse_map(value: str) -> dict[str, str]:
    """``group=name,group2=name2`` as a dict, in the order given."""
    out: dict[str, str] = {}
    for item in parse_list(value):
        group, sep, name = item.partition("=")
        if not sep or not group.strip() or not name.strip():
            raise ValueError(f"{item!r} is not group=name")
        out[group.strip()] = name.strip()
    return out


def parse_role_map(value: str) -> dict[str, str]:
    """``group=role,...`` with roles admin, team_admin or member."""
    out = parse_map(value)
    for group, role in out.items():
        if role not in ROLES:
            raise ValueError(
                f"{group}={role}: the role is not one of {', '.join(ROLES)}"
            )
    return out


ROWS: list[Row] = [
    (
        "OIDC_ISSUER",
        parse_issuer,
        "",
        "Issuer URL of your identity provider (its discovery document is at "
        "`<issuer>/.well-known/openid-configuration`); empty: no sign-in with a "
        "provider. https only, http on localhost.",
    ),
    ("OIDC_CLIENT_ID", str, "", "The gateway's client id at the provider."),
    ("OIDC_CLIENT_SECRET", str, "", "The gateway's client secret at the provider."),
    (
        "OIDC_SCOPES",
        str,
        "openid profile email",
        "Scopes asked for at sign-in (space separated; add the one that carries "
        "groups if your provider needs it).",
    ),
    (
        "OIDC_USERNAME_CLAIM",
        parse_list,
        "preferred_username,email",
        "Claims that name a person, tried in order: the first one present is the "
        "account's name (an `email` must be verified).",
    ),
    ("OIDC_GROUPS_CLAIM", str, "groups", "The claim that lists a person's groups."),
    (
        "OIDC_TEAM_MAP",
        parse_map,
        "",
        "Teams by group, `group=team,...`: a person lands in the first listed "
        "group's team they are in (made if missing), at every sign-in.",
    ),
    (
        "OIDC_ROLE_MAP",
        parse_role_map,
        "",
        "Roles by group, `group=admin|team_admin|member,...`: the strongest one "
        "wins, set at every sign-in (members otherwise). Empty: roles are set in "
        "the gateway.",
    ),
    (
        "OIDC_ALLOW_UNKNOWN",
        parse_bool,
        "false",
        "Let people in no group of the two maps sign in (as members).",
    ),
    (
        "OIDC_DEFAULT_TEAM",
        str,
        "",
        "The team of a new person whose groups map to no team; empty: none.",
    ),
    ("OIDC_LABEL", str, "SSO", "The sign-in button says `Sign in with <label>`."),
]


def enabled(app: Flask | None = None) -> bool:
    """True when sign-in with a provider is configured."""
    return bool((app or current_app).config["GATE"]["OIDC_ISSUER"])
