"""Who is calling: the one place that decides a request's client address.

The socket's peer is the client unless it is one of ``TRUSTED_PROXIES`` (addresses or
networks): then the proxy's header (``PROXY_HEADER``: ``X-Forwarded-For`` by
default) names the client, read right to left past the trusted proxies. A request
that carries forwarding headers nobody vouches for (from a peer that is not a
trusted proxy, or a chain that cannot be read) is served as its peer's, but is *not
known*: it gets no keyless trust and no ``/metrics`` by address, since the peer is
a proxy speaking for someone else (nginx on the same host connects from loopback).
IPv4-mapped IPv6 addresses (``::ffff:10.0.0.1``, a socket bound to ``[::]``) are
read as IPv4. This module imports no Flask (nor anything gunicorn's master has not
loaded): the server's handler reads its connection cap's addresses with it.
"""

from __future__ import annotations

import ipaddress
from typing import NamedTuple

ENVIRON_KEY = "ollama_gate.client"
PEER_KEY = "ollama_gate.peer"  # the socket's own address, before any header
# headers that say "I speak for another client": any of them from a peer that is
# not a trusted proxy makes the client unknown (these are what proxies and CDNs set)
FORWARDING = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_REAL_IP",
    "HTTP_FORWARDED",
    "HTTP_X_CLIENT_IP",
    "HTTP_TRUE_CLIENT_IP",
    "HTTP_CF_CONNECTING_IP",
    "HTTP_FASTLY_CLIENT_IP",
    "HTTP_X_CLUSTER_CLIENT_IP",
)
HEADERS = {"x-forwarded-for": "X-Forwarded-For", "x-real-ip": "X-Real-IP"}
HEADERS["forwarded"] = "Forwarded"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def normal_ip(text: str | None) -> str | None:
    """``text`` as an IP address (IPv4-mapped read as IPv4; a port or brackets
    dropped), or None when it is not one."""
    text = (text or "").strip().strip('"')
    if not text:
        return None
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        host = text[1:].partition("]")[0] if text.startswith("[") else None
        if host is None and text.count(":") == 1:  # 203.0.113.9:1234 (Azure's)
            host = text.partition(":")[0]
        try:
            ip = ipaddress.ip_address(host or "")
        except ValueError:
            return None
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return str(ip)


def parse_proxies(value: str) -> list[Network]:
    """The trusted proxies' addresses or networks; the old count is refused."""
    items = [item.strip() for item in value.split(",") if item.strip()]
    if items == ["0"]:  # the old default: no proxy, which is what it still means
        return []
    if len(items) == 1 and items[0].isdigit():
        raise ValueError(
            f"{items[0]} is a count of proxies, which any client could pose as; name "
            "the proxies' addresses instead, e.g. OLLAMA_GATE_TRUSTED_PROXIES="
            "127.0.0.1 for nginx on this host, or 10.0.0.0/8 for a router's network"
        )
    out = []
    for item in items:
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an address or network") from None
    return out


def parse_header(value: str) -> str:
    """The header a trusted proxy names its client in (one of ``HEADERS``)."""
    name = value.strip().lower()
    if name not in HEADERS:
        raise ValueError(f"{value!r}: use one of {', '.join(HEADERS.values())}")
    return HEADERS[name]


class Client(NamedTuple):
    """A request's client: its address, and whether that address is known to be the
    client's own (False: forwarded by a proxy nobody vouches for)."""

    address: str
    known: bool


class Proxies:
    """The trusted proxies and the header they name their clients in."""

    def __init__(self, networks: list[Network], header: str = "X-Forwarded-For"):
        self.networks = networks
        self.header = header

    def trusted(self, ip: str) -> bool:
        """True if ``ip`` (a normal address) is one of the trusted proxies."""
        addr = ipaddress.ip_address(ip)
        return any(addr in net for net in self.networks)

    def resolve(self, environ: dict) -> tuple[Client, str | None]:
        """The request's client, and the scheme a trusted proxy says it used."""
        peer = normal_ip(environ.get("REMOTE_ADDR"))
        if peer is None:
            return Client("", False), None
        if not any(name in environ for name in FORWARDING):
            return Client(peer, True), None
        if not self.networks or not self.trusted(peer):
            return Client(peer, False), None  # a claim nobody vouches for
        hops, scheme = self._chain(environ)
        if not hops:  # our proxy's header is missing: another one spoke
            return Client(peer, False), None
        last = peer
        for hop in reversed(hops):
            ip = normal_ip(hop)
            if ip is None:  # the hop is unknown: nothing left of it is believed
                return Client(last, False), None
            if not self.trusted(ip):
                return Client(ip, True), scheme
            last = ip
        return Client(last, True), scheme  # every hop a proxy: the first is the client

    def _chain(self, environ: dict) -> tuple[list[str], str | None]:
        """The addresses the trusted proxy's header lists, left to right, and the
        scheme (the right-most ``X-Forwarded-Proto``, or ``Forwarded``'s proto)."""
        if self.header == "Forwarded":
            hops, proto = forwarded(environ.get("HTTP_FORWARDED", ""))
        else:
            key = "HTTP_" + self.header.upper().replace("-", "_")
            hops = [h for h in environ.get(key, "").split(",") if h.strip()]
            proto = environ.get("HTTP_X_FORWARDED_PROTO", "").split(",")[-1]
        proto = proto.strip().lower()
        return hops, proto if proto in ("http", "https") else None


def forwarded(value: str) -> tuple[list[str], str]:
    """RFC 7239 ``Forwarded``: each element's ``for``, and the last one's ``proto``."""
    hops, proto = [], ""
    for element in value.split(","):
        pairs = dict(
            (name.strip().lower(), v.strip().strip('"'))
            for name, _, v in (pair.partition("=") for pair in element.split(";"))
        )
        if "for" in pairs:
            hops.append(pairs["for"] or "unknown")
        proto = pairs.get("proto", "")
    return hops, proto


def client_of(environ: dict) -> Client:
    """The request's client as ``ClientMiddleware`` decided it (or, for an environ it
    never saw, the peer, known only when nothing was forwarded)."""
    client = environ.get(ENVIRON_KEY)
    if client is None:
        client = Proxies([]).resolve(environ)[0]
        environ[ENVIRON_KEY] = client
    return client


class ClientMiddleware:
    """Decide each request's client once: ``REMOTE_ADDR`` becomes its address and
    ``wsgi.url_scheme`` the scheme a trusted proxy reports (werkzeug's ProxyFix, with
    proxies named by address instead of counted)."""

    def __init__(self, app, proxies: Proxies):
        self.app = app
        self.proxies = proxies

    def __call__(self, environ, start_response):
        client, scheme = self.proxies.resolve(environ)
        environ[ENVIRON_KEY] = client
        environ[PEER_KEY] = environ.get("REMOTE_ADDR")
        environ["REMOTE_ADDR"] = client.address
        if scheme:
            environ["wsgi.url_scheme"] = scheme
        return self.app(environ, start_response)
