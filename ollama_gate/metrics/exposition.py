"""The ``/metrics`` text, and who may read it: a bearer token or an allowed address.

Closed by default except from the machine itself (``METRICS_ALLOW`` is loopback). A
request that came through a reverse proxy (it carries ``X-Forwarded-For``) is not
believed to be local unless ``TRUSTED_PROXIES`` says the proxy's address header is
true: else nginx on the same host would open ``/metrics`` to the world.
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


def render() -> tuple[bytes, str]:
    """Every worker's metrics (multiprocess mode) or this process's, as text."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def allowed(req: Request, settings: dict) -> bool:
    """True for the right bearer token, or an allowed address seen directly."""
    token = settings["METRICS_TOKEN"]
    if token:
        scheme, _, given = req.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            return True
    if "X-Forwarded-For" in req.headers and not settings["TRUSTED_PROXIES"]:
        return False  # the address is the proxy's, not the client's
    try:
        addr = ipaddress.ip_address(req.remote_addr or "")
    except ValueError:
        return False
    if addr.version == 6 and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    return any(addr in net for net in settings["METRICS_ALLOW"])
