"""The metrics' settings rows: who may read ``/metrics``."""

from __future__ import annotations

import ipaddress

from ..settings import Row, parse_list


def parse_networks(value: str) -> list:
    """Parse a comma list of addresses or networks (``10.0.0.0/8``, ``::1``)."""
    try:
        return [ipaddress.ip_network(item, strict=False) for item in parse_list(value)]
    except ValueError as exc:
        raise ValueError(f"not an address or network: {exc}") from None


ROWS: list[Row] = [
    (
        "METRICS_TOKEN",
        str,
        "",
        "Bearer token that opens `/metrics` from any address. Empty: no token.",
    ),
    (
        "METRICS_ALLOW",
        parse_networks,
        "127.0.0.1,::1",
        "Addresses or networks (`10.0.0.0/8`) that may read `/metrics` without the "
        "token. Empty: the token only.",
    ),
]
