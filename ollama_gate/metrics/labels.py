"""Bounded label values: what a client sends must not mint new time series."""

from __future__ import annotations

from ..call import Call

# the API's endpoints as ``Call.endpoint`` names them; any other path is ``other``
ENDPOINTS = frozenset(
    {
        "/api/generate",
        "/api/chat",
        "/api/embed",
        "/api/embeddings",
        "/api/tags",
        "/api/ps",
        "/api/show",
        "/api/pull",
        "/api/push",
        "/api/create",
        "/api/copy",
        "/api/delete",
        "/api/version",
        "/api/blobs/{digest}",
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/models",
        "/v1/models/{id}",
        "/v1/responses",
    }
)
MAX_MODEL = 100


def endpoint(path: str) -> str:
    """The endpoint, or ``other`` for a path outside the known API."""
    return path if path in ENDPOINTS else "other"


def model(call: Call) -> str:
    """The model, named only when the call was accepted (a 4xx may name anything)."""
    if call.model is None or call.status is None or call.status >= 400:
        return ""
    return call.model[:MAX_MODEL]


def status(call: Call) -> str:
    """The HTTP status sent, or ``none`` when the call failed before any."""
    return str(call.status) if call.status is not None else "none"


def cache(call: Call) -> str:
    """The cache's word on the call (``hit``, ``miss``, ...) when a cache is in."""
    value = call.extra.get("cache")
    return str(value)[:20] if value is not None else ""
