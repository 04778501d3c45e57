"""Who may sign in, and into which team with which role: the settings' maps applied
to the claims of one person. Pure functions (no database), so each rule is tested
on its own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .settings import ROLES

MAX_NAME = 120  # users.name


@dataclass(frozen=True)
class Verdict:
    """What the rules say about one person at one sign-in."""

    admitted: bool
    reason: str = ""  # why not admitted (for the page and the audit log)
    team: str | None = None  # the team to be in; None: leave it as it is
    role: str | None = None  # the role to have; None: leave it as it is


def groups_of(claims: dict[str, Any], claim: str) -> list[str]:
    """The person's groups: a list claim, or one group as a string."""
    value = claims.get(claim)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [g for g in value if isinstance(g, str)]
    return []


def name_of(claims: dict[str, Any], claim_names: list[str]) -> str | None:
    """The account name: the first usable claim of ``claim_names`` (an email only
    when not marked unverified; no control characters; fits the column)."""
    for claim in claim_names:
        value = claims.get(claim)
        if not isinstance(value, str) or not value.strip():
            continue
        if claim == "email" and claims.get("email_verified") is False:
            continue
        value = value.strip()
        if len(value) > MAX_NAME or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            continue
        return value
    return None


def judge(groups: list[str], settings: dict[str, Any], is_new: bool) -> Verdict:
    """Apply the team and role maps to ``groups``. A person in no mapped group is
    refused unless unknown people are allowed; a new person whose groups name no
    team goes to the default team."""
    team_map, role_map = settings["OIDC_TEAM_MAP"], settings["OIDC_ROLE_MAP"]
    team = next((team_map[g] for g in team_map if g in groups), None)
    roles = {role_map[g] for g in groups if g in role_map}
    if team is None and not roles and not settings["OIDC_ALLOW_UNKNOWN"]:
        return Verdict(False, "in none of the groups this gateway admits")
    if team is None and is_new:
        team = settings["OIDC_DEFAULT_TEAM"] or None
    role = None
    if role_map:  # roles come from the provider: the strongest group wins
        role = next((r for r in ROLES if r in roles), "member")
    return Verdict(True, team=team, role=role)
