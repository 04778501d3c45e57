"""The response cache: repeated deterministic calls and embeddings answered without a
backend.

``policy`` says what may be cached, ``keys`` builds the key (canonical request, model
digest from ``digest``, scope), ``store`` and ``redis_store`` keep the answers with a
TTL and a size bound, ``entry`` and ``replay`` turn an answer into an entry and back
in the framing the client asked for; ``stage`` is the pipeline's stage, ``cli`` and
``admin`` show and clear the cache.
"""

from __future__ import annotations

from flask import Flask

from .admin import bp
from .stage import CacheStage


def stage(app: Flask) -> CacheStage:
    """The cache's stage for ``app``'s pipeline, kept for the CLI and admin page."""
    state = CacheStage(app)
    app.extensions["ollama_gate_cache"] = state
    return state


def init_app(app: Flask) -> None:
    """Register the cache's admin page."""
    app.register_blueprint(bp)
