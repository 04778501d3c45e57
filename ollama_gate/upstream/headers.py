"""Header hygiene between the client and the upstream: what crosses in either
direction."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import requests

# Hop-by-hop headers (RFC 9110 7.6.1): never forwarded in either direction.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Plus what the gateway itself owns: the upstream's Host, the caller's key headers,
# Origin (Ollama would 403 origins the gateway already approved), cookies, and the body
# framing that requests recomputes.
DROP_REQUEST = HOP_BY_HOP | {
    "proxy-connection",
    "host",
    "content-length",
    "origin",
    "x-api-key",
    "apikey",
    "accept-encoding",
    "cookie",
    "x-ollama-gate-backend",  # the gateway's own choice of backend, not the next's
    "x-ollama-gate-hops",  # the gateway sends its own count (``routing.hops``)
    # the gateway's own end-user headers (endusers.headers): for this gateway only
    "x-ollama-gate-user",
    "x-ollama-gate-user-name",
    "x-ollama-gate-user-email",
}
# gateways a request has passed (``routing.hops``): on every request sent upstream
HOPS = "X-Ollama-Gate-Hops"
# What requests' session added to every request; kept so the upstream sees the same.
DEFAULT_HEADERS = {
    "User-Agent": f"python-requests/{requests.__version__}",
    "Accept": "*/*",
    "Connection": "keep-alive",
}
# a chained gateway's backend header is replaced by this gateway's own
DROP_RESPONSE = HOP_BY_HOP | {
    "content-length",
    "set-cookie",
    "x-ollama-gate-backend",
    "x-ollama-gate-hops",  # a peer's answer to this gateway, not to the client
}


def forward_headers(
    headers: Iterable[tuple[str, str]], drop_authorization: bool
) -> dict[str, str]:
    """The client's headers fit to send upstream."""
    pairs = list(headers)
    drop = set(DROP_REQUEST)
    for name, value in pairs:
        if name.lower() == "connection":
            drop.update(token.strip().lower() for token in value.split(","))
    if drop_authorization:
        drop.add("authorization")
    out = {name: value for name, value in pairs if name.lower() not in drop}
    out["Accept-Encoding"] = "identity"  # pass bytes through untouched
    return out


def response_headers(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    """The upstream's response headers fit to send to the client."""
    drop = set(DROP_RESPONSE)
    conn = headers.get("Connection")
    if conn:
        drop.update(token.strip().lower() for token in conn.split(","))
    return [(k, v) for k, v in headers.items() if k.lower() not in drop]
