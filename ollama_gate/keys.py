"""API keys: format, generation, hashing, and the cached lookup that the proxy uses.

A key is ``og_`` followed by 43 URL-safe characters (256 bits from ``secrets``). Only
its SHA-256 hex digest is stored; a fast hash is right here because the key is random
and long, so there is nothing to brute-force that a slow hash would protect.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import joinedload

from .authheaders import key_from_headers, missing_key_message
from .extensions import db
from .failed_keys import FailedKeys
from .models import ApiKey, User, utcnow
from .networks import NetworkTable
from .subjects import Level, level_for, nearest

KEY_PREFIX = "og_"
VISIBLE_CHARS = 11  # "og_" plus 8 random characters: enough to tell keys apart in lists


class AuthError(Exception):
    """A refused key: 401 (missing or unknown), 403 (unusable), 503 (no database)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def generate_key() -> str:
    """A new random API key."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def visible_prefix(key: str) -> str:
    """The part of a key that may be shown and stored in clear.

    Imported keys of other formats show at most a quarter of their length (and never
    more than 8 characters), so a short key does not give half of itself away.
    """
    if key.startswith(KEY_PREFIX):
        return key[:VISIBLE_CHARS]
    return key[: min(8, len(key) // 4)]


def create_key(
    user: User,
    name: str = "",
    expires_at: datetime | None = None,
    plain: str | None = None,
) -> tuple[ApiKey, str]:
    """Add a key for ``user`` (new random one unless ``plain`` is given); return it and
    its text."""
    plain = plain or generate_key()
    key = ApiKey(
        user=user,
        name=name,
        prefix=visible_prefix(plain),
        key_hash=hash_key(plain),
        expires_at=expires_at,
    )
    db.session.add(key)
    return key, plain


def split_list(text: str | None) -> list[str]:
    """The non-empty entries of a comma, space or newline separated list."""
    return [part for part in re.split(r"[,\s]+", text or "") if part]


@dataclass(frozen=True, slots=True)
class Identity:
    """What the proxy needs to know about the caller, copied out of the database
    rows."""

    key_id: int
    user_id: int
    user_name: str
    key_prefix: str
    key_name: str
    state: str  # active, disabled or revoked; expiry is checked at each call
    expires_at: datetime | None
    revoke_at: datetime | None = None  # a rotated key's end of grace, checked per call
    history_mode: str | None = None  # the key's own history mode; None: the global one
    # limits (ollama_gate/limits/), copied here so the hot path never asks the database
    rate_limit: str | None = None  # None: the global RATE_LIMIT
    calls_per_day: int | None = None
    tokens_per_day: int | None = None
    calls_per_month: int | None = None
    tokens_per_month: int | None = None
    model_patterns: tuple[str, ...] = ()  # empty: every model
    scopes: frozenset[str] = frozenset()
    max_concurrency: int | None = None
    queue_weight: int = 1  # its share of slots when calls wait (the scheduler)
    limits_key_id: int | None = None  # the first key of its rotations, if another
    # the chain of subjects whose settings bound its calls: key, user, team (the
    # key's own settings above are its level's; the scopes, history mode and queue
    # weight above are the chain's, the ones every reader wants)
    levels: tuple[Level, ...] = ()
    # an app key: its calls may name their end user in headers (``endusers``)
    app: bool = False

    @property
    def limits_id(self) -> int:
        """The id its limit counters are kept under: a rotated key's new secret
        shares its quotas, rate windows and concurrency cap with the old one."""
        return self.limits_key_id or self.key_id

    @classmethod
    def from_key(cls, key: ApiKey) -> Identity:
        """Snapshot an ``ApiKey`` row (and its user) for the cache."""
        # expiry is judged per call (a cached identity may expire while cached)
        state = (
            "revoked"
            if key.revoked_at is not None
            else ("disabled" if key.disabled else "active")
        )
        levels = chain_of(key)
        scopes = frozenset(split_list(key.scopes))
        for level in levels[1:]:  # a user or team that sets scopes bounds them
            bound = level.get("scopes")
            if bound is not None:
                scopes &= bound
        return cls(
            key_id=key.id,
            user_id=key.user_id,
            user_name=key.user.name,
            key_prefix=key.prefix,
            key_name=key.name,
            state=state,
            expires_at=key.expires_at,
            revoke_at=key.revoke_at,
            history_mode=nearest(levels, "history_mode"),
            rate_limit=key.rate_limit,
            calls_per_day=key.calls_per_day,
            tokens_per_day=key.tokens_per_day,
            calls_per_month=key.calls_per_month,
            tokens_per_month=key.tokens_per_month,
            model_patterns=tuple(split_list(key.model_allowlist)),
            scopes=scopes,
            max_concurrency=key.max_concurrency,
            queue_weight=max(1, nearest(levels, "queue_weight", 1)),
            limits_key_id=key.limits_key_id,
            levels=levels,
            app=bool(key.app),
        )

    def check_usable(self) -> None:
        """Raise ``AuthError`` (403) unless the key may be used now."""
        if self.state != "active":
            raise AuthError(403, f"API key is {self.state}")
        now = utcnow()
        if self.revoke_at is not None and self.revoke_at <= now:
            raise AuthError(403, "API key is revoked (it was rotated)")
        if self.expires_at is not None and self.expires_at <= now:
            raise AuthError(403, "API key has expired")


def chain_of(key: ApiKey) -> tuple[Level, ...]:
    """The key's chain of levels, most specific first: key, its user, their team."""
    user = key.user
    levels = [
        level_for("key", key.limits_id, key.prefix, key),
        level_for("user", user.id, user.name, user),
    ]
    if user.team is not None:
        levels.append(level_for("team", user.team.id, user.team.name, user.team))
    return tuple(levels)


class KeyCache:
    """Per-process cache of key lookups, positive and negative, for ``ttl`` seconds."""

    MAX_ENTRIES = 10_000

    def __init__(self, ttl: float, failures: FailedKeys | None = None):
        self.ttl = ttl
        self.failures = failures or FailedKeys()  # refused attempts, for the dashboard
        self.networks = NetworkTable(ttl)  # trusted networks, for calls without a key
        self._entries: dict[str, tuple[float, Identity | None]] = {}
        self._lock = threading.Lock()

    def lookup(self, key_hash: str) -> Identity | None:
        """The identity for a hashed key, from the cache or the database."""
        now = time.monotonic()
        hit = self._entries.get(key_hash)
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            row = db.session.execute(
                db.select(ApiKey)
                .where(ApiKey.key_hash == key_hash)
                # the chain in the same query: key, user, team
                .options(joinedload(ApiKey.user).joinedload(User.team))
            ).scalar_one_or_none()
            identity = Identity.from_key(row) if row is not None else None
        except SQLAlchemyError:  # database locked or gone: the client may retry
            message = "the gateway's key store is unavailable; try again"
            raise AuthError(503, message) from None
        finally:
            db.session.remove()  # release the connection now; the stream may last long
        if self.ttl > 0:
            with self._lock:
                if len(self._entries) >= self.MAX_ENTRIES:
                    self._entries.clear()
                self._entries[key_hash] = (now + self.ttl, identity)
        return identity

    def clear(self) -> None:
        """Forget every cached lookup (tests and CLI use this after changes)."""
        with self._lock:
            self._entries.clear()
        self.networks.clear()


def authenticate(
    headers,
    cache: KeyCache,
    address: str | None = None,
    host_allowed: Callable[[], bool] | None = None,
) -> Identity:
    """The caller's identity, or ``AuthError`` with the status to answer; a call
    without a key from a trusted network (``address``) acts as that network's key,
    if it names one of the gateway's hosts (``host_allowed``: no DNS rebinding)."""
    try:
        return _authenticate(headers, cache, address, host_allowed)
    except AuthError as exc:
        if exc.status in (401, 403):
            cache.failures.note(exc.status)
        raise


def _authenticate(
    headers, cache: KeyCache, address: str | None, host_allowed: Callable | None
) -> Identity:
    key, _ = key_from_headers(headers)
    if not key and address:
        trusted = cache.networks.key_hash_for(address)
        if trusted and host_allowed and not host_allowed():  # a rebound name
            raise AuthError(
                403,
                "host not allowed: a call without a key must name the gateway by "
                "one of its own names (OLLAMA_GATE_ALLOWED_HOSTS)",
            )
        identity = cache.lookup(trusted) if trusted else None
        if identity is not None:
            identity.check_usable()
            return identity
    if not key:
        raise AuthError(401, missing_key_message(headers))
    identity = cache.lookup(hash_key(key))
    if identity is None:
        raise AuthError(401, "invalid API key")
    identity.check_usable()
    return identity
