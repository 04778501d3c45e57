"""The digest of a model: which exact weights would answer, for the cache key.

One function, ``model_digest``: the fleet's when the gateway routes to several
backends (``gate.fleet.digest``), else the one upstream's ``/api/tags``, kept a few
seconds per worker. A model with no known digest is simply not cached.
"""

from __future__ import annotations

import json
import logging
import threading
import time

from ..errors import ApiError
from .keys import model_name

log = logging.getLogger("ollama_gate.cache")


class TagDigests:
    """The digests of one upstream's models, from ``/api/tags``, refreshed every
    ``seconds``."""

    def __init__(self, upstream, seconds: float):
        self.upstream = upstream
        self.seconds = seconds
        self.digests: dict[str, str] = {}
        self.fetched = -float("inf")
        self._lock = threading.Lock()  # one refresh at a time; the others wait for it

    def get(self, model: str) -> str | None:
        """The digest of ``model``, or None if the upstream does not list it."""
        if time.monotonic() - self.fetched > self.seconds:
            with self._lock:
                if time.monotonic() - self.fetched > self.seconds:
                    self.digests = self._fetch()
                    self.fetched = time.monotonic()
        return self.digests.get(model_name(model))

    def _fetch(self) -> dict[str, str]:
        try:
            resp = self.upstream.send("GET", "/api/tags", {}, None)
            body = self.upstream.read_whole(resp)
            if resp.status_code != 200:
                raise ValueError(f"status {resp.status_code}")
            models = json.loads(body).get("models") or []
        except (ApiError, ValueError, AttributeError, OSError) as exc:
            log.warning("cache: no model digests from the upstream: %s", exc)
            return {}  # nothing is cached until the next refresh
        out = {}
        for entry in models:
            if not isinstance(entry, dict):
                continue
            name, digest = entry.get("name") or entry.get("model"), entry.get("digest")
            if isinstance(name, str) and isinstance(digest, str) and digest:
                out[model_name(name)] = digest
        return out


def model_digest(gate, model: str, tags: TagDigests | None) -> str | None:
    """The digest of ``model`` on the backend that would serve it, or None: the
    fleet's when the gateway has one, else the one upstream's (``tags``)."""
    fleet = getattr(gate, "fleet", None)
    if fleet is not None:
        return fleet.digest(model)
    return tags.get(model) if tags is not None else None
