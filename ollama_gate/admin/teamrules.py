"""A team admin hands out keys within the rules the team's members meet in the portal
(``accounts/policy.py``): the most active keys per person, the longest expiry, an
expiry required, and the portal's model picks as a new key's allowlist. Otherwise a
team admin could hand a member the never-expiring key the admin's rules refuse them.
Admins are not held to the rules: they set them.
"""

from __future__ import annotations

from ..accounts import policy as rules
from ..accounts.scope import scoped
from ..audit import record
from ..extensions import db
from ..models import ApiKey, User, utcnow


def refused(owner: User, form, adding: int) -> bool:
    """True (the reasons on the form's fields and in the audit log) when a team
    admin's key form for ``owner`` breaks the team's rules; ``adding`` is 1 for a
    new key, 0 for a change to one."""
    if not scoped():
        return False
    now = utcnow()
    policy = rules.policy_for(owner)
    active = len(rules.active_keys(owner, now))
    too_many = (
        rules.keys_refusal(policy, active, adding, f"{owner.name} holds")
        if adding
        else None
    )
    expiry = rules.expiry_refusal(policy, form.expires.data, now.date())
    if expiry:
        form.expires.errors = [*form.expires.errors, expiry]
    if too_many:
        form.name.errors = [*form.name.errors, too_many]
    reasons = [r for r in (too_many, expiry) if r]
    if reasons:
        record("key_refused", owner.name, "team rules: " + "; ".join(reasons)[:470])
        db.session.commit()
    return bool(reasons)


def narrow(owner: User, key: ApiKey) -> None:
    """A team admin's new key for ``owner`` takes the portal's model picks, as the
    member's own would (the team's and the person's allowlists bound it anyway)."""
    if scoped():
        key.model_allowlist = rules.key_allowlist(rules.policy_for(owner), [])
