"""ollama-gate: an authenticating, limiting, recording gateway in front of Ollama
servers.

The package itself imports nothing heavy: gunicorn's master imports the worker class
(``ollama_gate.server.worker``) through it before any gevent patching, so the factory
lives in ``app.py`` and is imported only when an app is built.
"""

from __future__ import annotations

from typing import Any


def create_app(overrides: dict[str, Any] | None = None):
    """Build the gateway app (``app.create_app``); ``flask --app ollama_gate`` calls
    this."""
    from .app import create_app as build

    return build(overrides)
