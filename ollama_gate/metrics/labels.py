"""Bounded label values: what a client sends must not mint new time series."""

from __future__ import annotations

import threading

from ..call import Call
from ..model_names import canonical

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
MAX_MODELS = 200  # distinct model labels a process names; the rest are ``other``
OTHER = "other"


class Bounded:
    """At most ``cap`` distinct label values, the first ones seen; later ones are
    ``other`` (a value once named stays named, so a gauge's +1 and -1 match)."""

    def __init__(self, cap: int):
        self.cap = cap
        self.seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        """``value`` itself while there is room for it, else ``other``."""
        if value in self.seen:
            return value
        with self._lock:
            if len(self.seen) < self.cap:
                self.seen.add(value)
                return value
        return OTHER


MODELS = Bounded(MAX_MODELS)


def model_name(name: str) -> str:
    """A model's label: its canonical spelling (``Llama3`` and ``llama3:latest``
    are one series), bounded in length and in distinct values."""
    return MODELS(canonical(name)[:MAX_MODEL])


def endpoint(path: str) -> str:
    """The endpoint, or ``other`` for a path outside the known API."""
    return path if path in ENDPOINTS else "other"


def model(call: Call) -> str:
    """The model, named only when the call was accepted (a 4xx may name anything)."""
    if not call.model or call.status is None or call.status >= 400:
        return ""
    return model_name(call.model)


def status(call: Call) -> str:
    """The HTTP status sent, or ``none`` when the call failed before any."""
    return str(call.status) if call.status is not None else "none"


def cache(call: Call) -> str:
    """The cache's word on the call (``hit``, ``miss``, ...) when a cache is in."""
    value = call.cache
    return str(value)[:20] if value is not None else ""
