"""What the response cache may keep: deterministic answers of the inference endpoints.

Embeddings are deterministic for the same model, input and options. Generate and chat
are only when the request pins its sampling: ``temperature`` 0 or a fixed ``seed``
(native calls in ``options``; ``/v1`` calls at the top level, where an omitted
temperature means 1.0, so only a seed or an explicit 0 pins them). Never cached,
whatever the mode: model loads and unloads (an empty prompt, messages or input),
``keep_alive: 0``, cloud models, ``_debug_render_only``; and every other endpoint
(model management, ``/api/ps``, ``/api/tags``, ``/v1/responses``, ...).
See section 5 of the API notes.
"""

from __future__ import annotations

import re
from typing import Any

# endpoint -> (family, the field holding what it is asked)
GENERATE = {
    "/api/generate": "prompt",
    "/api/chat": "messages",
    "/v1/chat/completions": "messages",
    "/v1/completions": "prompt",
}
EMBED = {"/api/embed": "input", "/api/embeddings": "prompt", "/v1/embeddings": "input"}
ENDPOINTS = frozenset(GENERATE) | frozenset(EMBED)

_ZERO_DURATION = re.compile(r"^[+-]?(0+\.?0*|\.0+)(ns|us|µs|ms|s|m|h)?$")


def folded(payload: dict[str, Any]) -> dict[str, Any]:
    """Top-level names as Ollama's Go decoder reads them: case-folded, last one wins."""
    return {name.casefold(): value for name, value in payload.items()}


def is_number(value: Any) -> bool:
    """True for a JSON number (``True`` is not one)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def zero_keep_alive(value: Any) -> bool:
    """True for a ``keep_alive`` that unloads the model at once (0, "0", "0s", ...)."""
    if is_number(value):
        return value == 0
    return isinstance(value, str) and bool(_ZERO_DURATION.match(value.strip()))


def _fixed_seed(seed: Any) -> bool:
    return is_number(seed) and float(seed).is_integer() and seed != -1


def pinned(endpoint: str, payload: dict[str, Any]) -> bool:
    """True when a generate or chat request pins its sampling (temperature 0 or a
    fixed seed)."""
    if endpoint.startswith("/v1/"):
        where = payload  # an omitted temperature is 1.0 here, not the model's default
    else:
        where = payload.get("options")
        if not isinstance(where, dict):
            return False
    # option names are matched exactly by Ollama ("Temperature" is ignored)
    temperature = where.get("temperature")
    return (is_number(temperature) and temperature == 0) or _fixed_seed(
        where.get("seed")
    )


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def bypass_reason(endpoint: str, payload: dict[str, Any] | None, mode: str) -> str:
    """Why a call must not use the cache, or "" when it may (``payload`` folded)."""
    if mode == "off":
        return "cache off"
    if endpoint not in ENDPOINTS:
        return "endpoint not cached"
    if payload is None:
        return "no JSON body"
    model = payload.get("model")
    if not isinstance(model, str) or not model.strip():
        return "no model"
    last = model.rsplit("/", 1)[-1]
    if ":" in last and "cloud" in last.rsplit(":", 1)[1].casefold():
        return "cloud model"
    if zero_keep_alive(payload.get("keep_alive")):
        return "keep_alive 0 unloads the model"
    if payload.get("_debug_render_only"):
        return "render only"
    asked = (GENERATE | EMBED)[endpoint]
    if _empty(payload.get(asked)) and _empty(payload.get("images")):
        return "a model load or unload"
    if endpoint in GENERATE and mode != "all" and not pinned(endpoint, payload):
        return "sampling not pinned (temperature 0 or a seed)"
    return ""
