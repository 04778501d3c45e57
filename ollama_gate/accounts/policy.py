"""A person's key policy: their team's rules (``subject_rows/portal_rows.py``)
with the gateway's default filled in, and why a key past them is refused.

Every refusal says which rule and what would pass, in words a member reads on the
form; the same functions decide for the portal's create and rotate pages and for a
team admin's keys for the team's members (``admin/teamrules.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app

from ..keys import split_list
from ..limits.access import model_allowed
from ..models import ApiKey, User


@dataclass(frozen=True)
class Policy:
    """What a person may do with their own keys."""

    max_keys: int  # active keys at once
    max_days: int | None  # longest expiry from today; None: no bound
    expiry_required: bool
    picks: tuple[str, ...]  # the portal's own patterns for picks; (): no narrowing
    bounds: tuple[tuple[str, ...], ...]  # every allowlist a pick must pass
    team: str  # the team's name, "" without one

    @property
    def whose(self) -> str:
        """Who set the rules, for refusals."""
        return f"team {self.team}" if self.team else "the gateway"


def policy_for(user: User) -> Policy:
    """``user``'s policy: their team's rules, the gateway's default keys per person."""
    team = user.team
    gate = current_app.config["GATE"]
    max_keys = team.portal_max_keys if team is not None else None
    picks = tuple(split_list(team.portal_models)) if team is not None else ()
    bounds = [
        found
        for found in (
            picks,
            tuple(split_list(team.model_allowlist)) if team is not None else (),
            tuple(split_list(user.model_allowlist)),
        )
        if found
    ]
    return Policy(
        max_keys=gate["PORTAL_MAX_KEYS"] if max_keys is None else max_keys,
        max_days=team.portal_max_days if team is not None else None,
        expiry_required=bool(team is not None and team.portal_expiry_required),
        picks=picks,
        bounds=tuple(bounds),
        team=team.name if team is not None else "",
    )


def active_keys(user: User, now: datetime) -> list[ApiKey]:
    """The person's keys that work now (a rotated one in its grace period too)."""
    return [k for k in user.keys if k.state(now) == "active"]


def keys_refusal(
    policy: Policy, active: int, adding: int = 1, holder: str = "You hold"
) -> str | None:
    """Why ``adding`` more active keys are refused, or None."""
    if active + adding <= policy.max_keys:
        return None
    if policy.max_keys == 0:
        return f"{policy.whose.capitalize()} lets its members make no keys here."
    return (
        f"{holder} {active} active key{'s' if active != 1 else ''}, the most "
        f"{policy.whose} allows is {policy.max_keys}: revoke one first."
    )


def latest_expiry(policy: Policy, today: date) -> date | None:
    """The last day a new key may expire on (None: no bound)."""
    return today + timedelta(days=policy.max_days) if policy.max_days else None


def expiry_refusal(policy: Policy, expires: date | None, today: date) -> str | None:
    """Why a key expiring at the end of ``expires`` is refused by the policy, or
    None (a date in the past is the key form's own refusal)."""
    latest = latest_expiry(policy, today)
    if expires is None:
        if policy.expiry_required:
            until = f" up to {latest:%Y-%m-%d}" if latest else ""
            return (
                f"{policy.whose.capitalize()} requires an expiry: pick a date{until}."
            )
        return None
    if latest is not None and expires > latest:
        return (
            f"{policy.whose.capitalize()} allows keys of at most {policy.max_days} "
            f"days: pick {latest:%Y-%m-%d} or earlier."
        )
    return None


def model_ok(policy: Policy, name: str) -> bool:
    """True if a person may pick model ``name``: every bound allows it."""
    return all(model_allowed(name, bound) for bound in policy.bounds)


def models_refusal(policy: Policy, names: list[str]) -> str | None:
    """Why picking ``names`` is refused, or None."""
    outside = [n for n in names if not model_ok(policy, n)]
    if not outside:
        return None
    allowed = ", ".join(policy.bounds[0]) if policy.bounds else "every model"
    return (
        f"{', '.join(outside)}: not among the models {policy.whose} lets you pick "
        f"({allowed})."
    )


def pickable(policy: Policy, names: list[str]) -> list[str]:
    """The fleet's models a person may pick."""
    return [n for n in names if model_ok(policy, n)]


def key_allowlist(policy: Policy, names: list[str]) -> str | None:
    """The new key's allowlist: the picks, else the portal's own patterns (the
    team's and the person's allowlists bound every key anyway, as levels)."""
    return ",".join(names or policy.picks) or None
