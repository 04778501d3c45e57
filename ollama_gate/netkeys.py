"""A user's trusted networks live on a key of their own (named ``trusted network``):
its limits, quotas, history mode and state apply to every call from those networks,
and disabling it pauses their access. Its secret is never shown or kept; removing the
networks revokes it."""

from __future__ import annotations

from .extensions import db
from .keys import create_key
from .models import ApiKey, User, utcnow
from .networks import parse_networks

NETWORK_KEY_NAME = "trusted network"


def network_key(user: User) -> ApiKey | None:
    """The user's key that carries their trusted networks, if any (not revoked)."""
    return db.session.execute(
        db.select(ApiKey)
        .where(ApiKey.user_id == user.id, ApiKey.networks.is_not(None))
        .where(ApiKey.revoked_at.is_(None))
        .order_by(ApiKey.id)
        .limit(1)
    ).scalar_one_or_none()


def set_networks(user: User, text: str | list[str]) -> tuple[ApiKey | None, str, str]:
    """Give ``user`` exactly these trusted networks (none: remove them); return the
    network key and the networks before and after. ValueError for a bad network."""
    wanted = parse_networks(text)
    key = network_key(user)
    before = key.networks if key is not None else ""
    if not wanted:
        if key is not None:  # a key nobody holds the secret of has no use left
            key.revoked_at = utcnow()
        return key, before or "", ""
    if key is None:
        key, _ = create_key(user, name=NETWORK_KEY_NAME)  # its secret is dropped
    key.networks = ",".join(wanted)
    return key, before or "", key.networks
