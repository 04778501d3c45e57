"""Aliases on the path: a call naming an alias runs the real model, and its answer
(whole, NDJSON or SSE) names the alias again, so the client never sees the switch.

Runs after the limits stage: a key's allowlist applies to the names its clients use
(an alias the admin made is a name like any other), and here, where the model behind
the alias is known, to that model too unless the allowlist names the alias exactly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import quote

from ..call import Call
from ..gofields import without
from ..limits.access import (
    alias_allowed,
    alias_refusal,
    allowlists,
    cut_model_list,
)
from ..pipeline import Stage
from .fleet import Fleet

ALIAS = "routing.alias"  # call.extra: (the model field upstream sends, the alias's)
# Endpoints whose model an alias may stand for. Never management calls: deleting or
# copying "an alias" must not touch the model behind it.
ALIASED = frozenset(
    {
        "/api/generate",
        "/api/chat",
        "/api/embed",
        "/api/embeddings",
        "/api/show",
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/responses",
        "/v1/models/{id}",
    }
)


class Aliases(Stage):
    """Rewrite an alias to its model on the way up, and back on the way down."""

    name = "aliases"

    def __init__(self, fleet: Fleet):
        self.fleet = fleet

    def admit(self, call: Call) -> None:
        """Point the call at the real model when it names an alias."""
        if not call.model or call.endpoint not in ALIASED:
            return
        real = self.fleet.resolve(call.model)
        if real is None:
            return
        for _, patterns in allowlists(call):  # every level's allowlist judges it
            if not alias_allowed(call.model, real, patterns):
                raise alias_refusal(call.model)
        call.upstream_model = real
        if call.endpoint == "/v1/models/{id}":
            call.upstream_path = "/v1/models/" + quote(real, safe="")
            names = (b'"id":', real, call.model)
        else:
            payload = without(call.payload, "model")  # one spelling, as Go reads it
            call.payload, call.rewritten = {**payload, "model": real}, True
            names = (b'"model":', real, call.model)
        field, real, alias = names
        call.extra[ALIAS] = (
            field + json.dumps(real).encode(),
            field + json.dumps(alias).encode(),
        )

    def filter(self, call: Call, body: bytes) -> bytes:
        """A whole answer names the alias; a model list shows only the aliases the
        key may use."""
        names = call.extra.get(ALIAS)
        if names:
            return body.replace(*names)
        bounds = allowlists(call)
        if not bounds or not self.fleet.aliases:
            return body
        return cut_model_list(
            call, body, lambda name: all(self.usable(name, p) for _, p in bounds)
        )

    def usable(self, name: str, patterns: tuple[str, ...]) -> bool:
        """False for an alias whose model the key may not run."""
        real = self.fleet.resolve(name)
        return real is None or alias_allowed(name, real, patterns)

    def stream(self, call: Call) -> Callable[[bytes], bytes] | None:
        """Each streamed piece names the alias (only for calls that used one)."""
        names = call.extra.get(ALIAS)
        return renaming(*names) if names else None


def renaming(real: bytes, alias: bytes) -> Callable[[bytes], bytes]:
    """A piece with the real model's field replaced by the alias's.

    A JSON string escapes its quotes, so ``"model":"x"`` cannot occur inside a
    prompt or answer text: only the field itself is replaced.
    """

    def renamed(piece: bytes) -> bytes:
        return type(piece)(piece.replace(real, alias)) if real in piece else piece

    return renamed
