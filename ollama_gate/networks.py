"""Trusted networks: calls without a key from a named client network act as a key.

For clients that cannot send a key (the ``ollama`` CLI, some desktop apps). Off until
an admin names a network (``users set NAME --network 192.168.1.0/24`` or the user's
page). The client address is ``remote.client_of``'s: forwarding headers count only
from ``TRUSTED_PROXIES``, and a request forwarded by any other peer is never trusted.
"""

from __future__ import annotations

import ipaddress
import threading
import time

from sqlalchemy.exc import SQLAlchemyError

from .extensions import db
from .models import ApiKey

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str | list[str] | None) -> list[str]:
    """Networks in CIDR form (a bare address is a /32 or /128); ValueError if bad."""
    items = text if isinstance(text, list) else (text or "").replace(",", " ").split()
    out = []
    for item in items:
        try:
            network = ipaddress.ip_network(item.strip(), strict=False)
        except ValueError:
            raise ValueError(
                f"{item!r} is not a network (e.g. 192.168.1.0/24)"
            ) from None
        if network.prefixlen == 0:
            raise ValueError(f"{item}: every address is too wide a network")
        if str(network) not in out:
            out.append(str(network))
    return out


class NetworkTable:
    """Every trusted network and its key's hash, reloaded after ``ttl`` seconds."""

    def __init__(self, ttl: float):
        self.ttl = ttl
        self._table: tuple[float, list[tuple[Network, str]]] | None = None
        self._lock = threading.Lock()

    def key_hash_for(self, address: str | None) -> str | None:
        """The hash of the key whose network holds ``address`` (the narrowest)."""
        if not address:
            return None
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        for network, key_hash in self._networks():
            if ip.version == network.version and ip in network:
                return key_hash
        return None

    def _networks(self) -> list[tuple[Network, str]]:
        now = time.monotonic()
        table = self._table
        if table is not None and table[0] > now:
            return table[1]
        try:
            rows = db.session.execute(
                db.select(ApiKey.key_hash, ApiKey.networks).where(
                    ApiKey.networks.is_not(None), ApiKey.revoked_at.is_(None)
                )
            ).all()
        except SQLAlchemyError:  # no database: no network is trusted (a plain 401)
            return []
        finally:
            db.session.remove()
        entries = [
            (ipaddress.ip_network(text, strict=False), key_hash)
            for key_hash, networks in rows
            for text in networks.split(",")
            if text
        ]
        entries.sort(key=lambda e: -e[0].prefixlen)  # the most specific first
        if self.ttl > 0:
            with self._lock:
                self._table = (now + self.ttl, entries)
        return entries

    def clear(self) -> None:
        """Forget the table (after a change)."""
        with self._lock:
            self._table = None
