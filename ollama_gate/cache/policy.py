"""What the response cache may keep: deterministic answers of the inference endpoints.

Embeddings are deterministic for the same model, input and options. Generate and chat
are only when the request pins its sampling: ``temperature`` 0 or a fixed ``seed``
(native calls in ``options``; ``/v1`` calls at the top level, where an omitted
temperature means 1.0, so only a seed or an explicit 0 pins them). Never cached,
whatever the mode: model loads and unloads (an empty prompt, messages or input),
``keep_alive: 0``, cloud models, ``_debug_render_only``, a request that spells one
field twice (Go merges some repeated fields, maps and structs, instead of keeping the
last: no key could describe that); and every other endpoint (model management,
``/api/ps``, ``/api/tags``, ``/v1/responses``, ...). Field names are read as Ollama's
Go decoder reads them (``gofields``). See section 5 of the API notes.
"""

from __future__ import annotations

import re
from typing import Any

from ..gofields import go_field, spelt_twice

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
        # fields of the request (an omitted temperature is 1.0 here, not the model's)
        temperature = go_field(payload, "temperature")
        seed = go_field(payload, "seed")
    else:
        options = go_field(payload, "options")
        if not isinstance(options, dict):
            return False
        # option names are matched exactly by Ollama ("Temperature" is ignored)
        temperature, seed = options.get("temperature"), options.get("seed")
    return (is_number(temperature) and temperature == 0) or _fixed_seed(seed)


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def bypass_reason(endpoint: str, payload: dict[str, Any] | None, mode: str) -> str:
    """Why a call must not use the cache, or "" when it may."""
    if mode == "off":
        return "cache off"
    if endpoint not in ENDPOINTS:
        return "endpoint not cached"
    if payload is None:
        return "no JSON body"
    if spelt_twice(payload):
        return "a field spelt twice"
    model = go_field(payload, "model")
    if not isinstance(model, str) or not model.strip():
        return "no model"
    last = model.rsplit("/", 1)[-1]
    if ":" in last and "cloud" in last.rsplit(":", 1)[1].casefold():
        return "cloud model"
    if zero_keep_alive(go_field(payload, "keep_alive")):
        return "keep_alive 0 unloads the model"
    if go_field(payload, "_debug_render_only"):
        return "render only"
    asked = (GENERATE | EMBED)[endpoint]
    if _empty(go_field(payload, asked)) and _empty(go_field(payload, "images")):
        return "a model load or unload"
    if endpoint in GENERATE and mode != "all" and not pinned(endpoint, payload):
        return "sampling not pinned (temperature 0 or a seed)"
    return ""
