"""The people behind a shared app: an app key's calls name their end user in headers.

An app key (``keys create USER --app``) is trusted to say who is calling: Open WebUI's
``X-OpenWebUI-User-*`` headers (``ENABLE_FORWARD_USER_INFO_HEADERS=true``) or the
gateway's own ``X-Ollama-Gate-User``. Each person becomes a subject (``EndUser``, a
row per app key and external id, made on first sight); their level goes in front of
the call's chain, so their own limits (or the app key's per-person defaults, the row
with external id ``*``) apply, the fair queue shares between people, and history and
usage name them. Headers from any other key are ignored.

Kept light: ``models`` is imported by ``limits.usage`` (an end user's quota seed).
"""

from __future__ import annotations

from typing import Any


def stage(app: Any):
    """The end users' stage for ``app``'s pipeline (before the limits)."""
    from .steps import EndUsers

    state = EndUsers(app)
    app.extensions["ollama_gate_endusers"] = state
    return state
