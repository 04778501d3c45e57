"""The ``/metrics`` text, and who may read it: a bearer token or an allowed address.

Closed by default except from the machine itself (``METRICS_ALLOW`` is loopback). The
address is ``remote.client_of``'s: a request a proxy forwarded (``X-Forwarded-For``,
``X-Real-IP``, ``Forwarded``, ...) is not local unless ``TRUSTED_PROXIES`` names that
proxy and its header names an allowed client; else nginx on the same host would open
``/metrics`` to the world. Without the token, ``Host`` must name this machine
(``ALLOWED_HOSTS``): a page at a rebound name must not read it through a browser.
"""

from __future__ import annotations

import hmac
import ipaddress
import os

from flask import Request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)

from ..hosts import AllowedHosts
from ..remote import client_of


def render() -> tuple[bytes, str]:
    """Every worker's metrics (multiprocess mode) or this process's, as text."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def allowed(req: Request, settings: dict, hosts: AllowedHosts) -> bool:
    """True for the right bearer token, or an allowed address seen directly."""
    token = settings["METRICS_TOKEN"]
    if token:
        scheme, _, given = req.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            return True
    client = client_of(req.environ)
    if not client.known or not hosts.allowed(req.host):
        return False  # the address is a proxy's, or the page's name is not ours
    addr = ipaddress.ip_address(client.address)
    return any(addr in net for net in settings["METRICS_ALLOW"])
