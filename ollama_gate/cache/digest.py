"""The digest of a model: which exact weights would answer, for the cache key.

The fleet's health checks read every backend's ``/api/tags`` (and again at once
after a pull through the gateway), so the digest comes from there: a re-pulled model
misses the cache from the next check on. A model with no known digest is simply not
cached.
"""

from __future__ import annotations


def model_digest(gate, model: str) -> str | None:
    """The digest of ``model`` on the backends that would serve it, or None."""
    gate.checker.ensure_fresh()  # without the background loop (tests, the CLI)
    return gate.fleet.digest(model)
