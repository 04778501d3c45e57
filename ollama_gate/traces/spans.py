"""What a finished call's span says: its name and attributes (GenAI semantic
conventions), read from the ``Call`` record alone; nothing of OpenTelemetry here."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ..call import Call

PROVIDER = "ollama"
# endpoint -> gen_ai.operation.name (the conventions' well-known values)
OPERATIONS = {
    "/api/chat": "chat",
    "/v1/chat/completions": "chat",
    "/v1/messages": "chat",
    "/api/generate": "generate_content",
    "/v1/completions": "generate_content",
    "/api/embed": "embeddings",
    "/api/embeddings": "embeddings",
    "/v1/embeddings": "embeddings",
}


def operation(call: Call) -> str | None:
    """The GenAI operation of the call, or None for the rest of the API (lists,
    pulls, blobs)."""
    return OPERATIONS.get(call.endpoint)


def span_name(call: Call) -> str:
    """``{operation} {model}`` for model calls, ``{method} {endpoint}`` otherwise."""
    op = operation(call)
    if op is None:
        return f"{call.method} {call.endpoint}"
    return f"{op} {call.model}" if call.model else op


def failure(call: Call) -> str | None:
    """Why the call failed (``error.type``), or None when it did not: a status of
    400 and up, no status at all, or a stream broken after its first byte."""
    if call.status is None:
        return "no_response"
    if call.status >= 400:
        return str(call.status)
    if call.error:
        return "stream_broken"
    return None


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def attributes(call: Call, backend_url: str | None) -> dict[str, Any]:
    """The span's attributes, empty ones left out (OpenTelemetry refuses None)."""
    stats = call.stats or {}
    op = operation(call)
    address = urlsplit(backend_url) if backend_url else None
    out: dict[str, Any] = {
        "gen_ai.operation.name": op,
        "gen_ai.system": PROVIDER,
        "gen_ai.provider.name": PROVIDER,
        "gen_ai.request.model": call.model,
        "gen_ai.response.model": call.upstream_model or call.model,
        "gen_ai.usage.input_tokens": stats.get("prompt_tokens"),
        "gen_ai.usage.output_tokens": stats.get("completion_tokens"),
        "gen_ai.response.finish_reasons": (
            [str(stats["done_reason"])] if stats.get("done_reason") else None
        ),
        "server.address": address.hostname if address else None,
        "server.port": address.port if address else None,
        "http.request.method": call.method,
        "http.route": call.endpoint,
        "http.response.status_code": call.status,
        "error.type": failure(call),
        "ollama_gate.backend": call.backend,
        "ollama_gate.request_id": call.request_id,
        "ollama_gate.streamed": call.streamed,
        "ollama_gate.queue_wait_ms": _ms(call.queue_wait),
        "ollama_gate.time_to_first_token_ms": _ms(call.ttfb),
        "ollama_gate.cache": call.cache,
    }
    if not op:  # not a model call: only the request model is meaningful
        del out["gen_ai.response.model"]
    return {k: v for k, v in out.items() if v is not None and v != ""}
