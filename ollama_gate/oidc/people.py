"""The account of a person the provider vouched for: found by their subject at the
provider, else by name (linking an account made before, once), else made when the
rules admit them; their team and role set from the rules at every sign-in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app

from ..audit import record
from ..extensions import db
from ..models import Team, User
from .rules import groups_of, judge, name_of

ACTOR = "identity provider"  # who made the changes a sign-in makes, in the audit log


@dataclass(frozen=True)
class Refusal:
    """A person the rules do not admit: who (as far as known) and why."""

    name: str
    reason: str


def subject_of(issuer: str, claims: dict[str, Any]) -> str:
    """The person's id at the provider, as ``users.oidc_subject`` keeps it."""
    return f"{issuer} {claims['sub']}"


def admit(claims: dict[str, Any], issuer: str) -> User | Refusal:
    """The account for ``claims``, brought in line with the rules, or why not; the
    changes and a refusal are in the session's audit rows (the caller commits)."""
    settings = current_app.config["GATE"]
    subject = subject_of(issuer, claims)
    name = name_of(claims, settings["OIDC_USERNAME_CLAIM"])
    user = db.session.execute(
        db.select(User).where(User.oidc_subject == subject)
    ).scalar_one_or_none()
    if user is None and name is None:
        return refuse(f"sub {claims['sub']}", "the provider gave no usable name")
    if user is None:
        user = db.session.execute(
            db.select(User).where(User.name == name)
        ).scalar_one_or_none()
        if user is not None and user.oidc_subject:
            # the name is another person's at the provider (or was): never merge
            return refuse(name, "the name belongs to another account")
    groups = groups_of(claims, settings["OIDC_GROUPS_CLAIM"])
    verdict = judge(groups, settings, is_new=user is None)
    if not verdict.admitted:
        return refuse(user.name if user else name, verdict.reason)
    is_new = user is None
    if user is None:
        user = User(name=name, oidc_subject=subject, role=verdict.role or "member")
        db.session.add(user)
    elif user.oidc_subject is None:  # an account made before, by name: linked once
        user.oidc_subject = subject
        record(
            "user_updated",
            user.name,
            "linked to the identity provider",
            admin_name=ACTOR,
        )
    changes = []
    if verdict.role is not None and verdict.role != user.role:
        changes.append(f"role: {user.role} → {verdict.role}")
        user.role = verdict.role
    if verdict.team is not None and (
        user.team is None or user.team.name != verdict.team
    ):
        before = user.team.name if user.team else "none"
        user.team = team_named(verdict.team)
        changes.append(f"team: {before} → {verdict.team}")
    if is_new:
        detail = ", ".join([f"role: {user.role}", *changes])
        record("user_created", user.name, f"by signing in: {detail}", admin_name=ACTOR)
    elif changes:
        record("user_updated", user.name, ", ".join(changes), admin_name=ACTOR)
        # cached key identities carry the team: this worker forgets them now
        current_app.extensions["ollama_gate"].key_cache.clear()
    return user


def team_named(name: str) -> Team:
    """The team called ``name``, made (and audited) if there is none yet."""
    team = db.session.execute(
        db.select(Team).where(Team.name == name)
    ).scalar_one_or_none()
    if team is None:
        team = Team(name=name)
        db.session.add(team)
        record(
            "team_created", name, "named in OLLAMA_GATE_OIDC_TEAM_MAP", admin_name=ACTOR
        )
    return team


def refuse(name: str, reason: str) -> Refusal:
    """Audit a refused sign-in (``login_refused``) and say why."""
    record("login_refused", name, f"identity provider: {reason}", admin_name="")
    return Refusal(name, reason)
