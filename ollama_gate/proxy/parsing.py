"""Reading an API request: its body (bounded), its JSON as Ollama would read it, its
model, and the paths kept for limits, history and the upstream."""

from __future__ import annotations

import json
from urllib.parse import quote, unquote, urlsplit

from flask import request

from ..call import Call
from ..errors import ApiError
from ..gofields import go_field
from ..limits.access import MANAGE
from ..offload import off_loop
from ..server.body import BodyTimeout, body_input
from ..upstream import StreamedBody
from .lenient import OFF_LOOP_BYTES, parse_lenient, top_level_string

# Endpoints whose requests name their model in ``name`` when ``model`` is empty
# (deprecated).
NAME_ALIAS = ("/api/show", "/api/pull", "/api/push", "/api/create", "/api/delete")
RAW_KEPT = 64 * 1024  # bytes of an unparseable body kept for its record


def read_body(call: Call, max_mb: float):
    """The request body: streamed for blob uploads, else read (bounded) and parsed if
    JSON."""
    if call.endpoint == "/api/blobs/{digest}":
        if call.method != "POST":
            return None
        reader = body_input(request.environ)
        if reader is not None and MANAGE in call.identity.scopes:
            reader.lift()  # a model's blob may take minutes; only managers send one
        return StreamedBody(request.stream, request.content_length)
    limit = int(max_mb * 1024 * 1024)
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"request body larger than {max_mb:g} MiB")
    try:
        data = request.stream.read(limit + 1)
    except BodyTimeout as exc:  # a trickled body (``server/body.py``)
        raise ApiError(408, exc.description, {"Connection": "close"}) from None
    except (ValueError, OSError):  # a malformed chunked body: the client's fault
        # what is left of the body cannot be found: this connection ends here
        raise ApiError(
            400, "malformed request body (chunked encoding)", {"Connection": "close"}
        ) from None
    if len(data) > limit:
        raise ApiError(413, f"request body larger than {max_mb:g} MiB")
    call.body_size = len(data)
    if data[:1] == b"{" or data.lstrip(b" \t\r\n")[:1] == b"{":
        payload = parse_json(data)
        if isinstance(payload, dict):
            call.payload = payload
            call.model = model_of(call.endpoint, payload)
            call.max_output = max_output(call.endpoint, payload)
        else:
            unparsed(call, data)
    elif call.endpoint == "/v1/models/{id}":
        call.model = _model_id(call.upstream_path)
    return data or None


def outgoing_body(call: Call, body):
    """The body to send upstream: the client's bytes, unless a stage rewrote the
    payload (an alias, the usage of a stream), which is then sent as JSON once."""
    if call.rewritten and call.payload is not None:
        return json.dumps(call.payload, separators=(",", ":")).encode()
    return body


def parse_json(data: bytes):
    """The JSON object Ollama's Go decoder would see, or None.

    Go reads the first value and replaces invalid UTF-8, so a body ``json.loads``
    refuses (stray bytes, trailing data, a 5,000-digit number) still runs upstream;
    it must still be recorded and checked. The strict parse comes first because it is
    the common, fast case; a big body is parsed off the event loop.
    """
    loads = json.loads if len(data) < OFF_LOOP_BYTES else big_loads
    try:
        return loads(data)
    except (ValueError, RecursionError):
        pass
    try:
        return parse_lenient(data)
    except (ValueError, RecursionError):
        pass
    text = data.decode("utf-8", "replace").lstrip(" \t\r\n")
    try:
        return json.JSONDecoder().raw_decode(text)[0]
    except (ValueError, RecursionError):
        return None  # the upstream answers malformed JSON with its own 400


def big_loads(data: bytes):
    """``json.loads`` of a big body, in a thread so other streams keep flowing."""
    return off_loop(json.loads, data)


def unparsed(call: Call, data: bytes) -> None:
    """What the record keeps of a body no parser here could read: its model, if a
    top-level field names one, and its first bytes, marked as raw."""
    call.unparsed = data[:RAW_KEPT]
    call.model = top_level_string(data, "model") or (
        top_level_string(data, "name") if call.endpoint in NAME_ALIAS else None
    )


def model_of(endpoint: str, payload: dict) -> str | None:
    """The model a request names (``model``, or the deprecated ``name`` where
    allowed)."""
    model = go_field(payload, "model")
    if not model and endpoint in NAME_ALIAS:
        model = go_field(payload, "name")
    if not model and endpoint == "/api/copy":
        model = go_field(payload, "source")
    return model if isinstance(model, str) and model else None


# The field where each endpoint's request bounds its answer, as Ollama reads it: only
# fields Ollama honours (it ignores OpenAI's ``max_completion_tokens``), or a client
# could name a small bound that holds little of a token quota and generate unbounded.
OUTPUT_FIELD = {
    "/v1/chat/completions": "max_tokens",
    "/v1/completions": "max_tokens",
    "/v1/responses": "max_output_tokens",
    "/v1/messages": "max_tokens",
}
EMBEDS = frozenset({"/api/embed", "/api/embeddings", "/v1/embeddings"})


def max_output(endpoint: str, payload: dict) -> int | None:
    """The most tokens a request lets the model generate (0 for embeddings), or None
    when it sets no bound (Ollama then generates until the model stops)."""
    path = endpoint.rstrip("/") or endpoint
    if path in EMBEDS:
        return 0
    if path in ("/api/generate", "/api/chat"):
        options = go_field(payload, "options")
        # options is a map in Ollama: its names match exactly; a whole float counts
        value = options.get("num_predict") if isinstance(options, dict) else None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
    else:
        name = OUTPUT_FIELD.get(path)
        value = go_field(payload, name) if name else None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return None  # 0 or less: no bound in Ollama's runner (-1, -2, 0)
    return value


def endpoint_of(path: str) -> str:
    """The request path with its variable part folded, for limits and history."""
    if path.startswith("/api/blobs/"):
        return "/api/blobs/{digest}"
    if path.startswith("/v1/models/"):
        return "/v1/models/{id}"
    return path


def upstream_path(environ: dict) -> str:
    """The raw path and query to forward, exactly as the client sent them (``%2F``
    kept)."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        if not raw.startswith(
            "/"
        ):  # absolute-form request target: keep only path and query
            parts = urlsplit(raw)
            raw = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return raw
    path = quote(environ.get("PATH_INFO", "/"), safe="/:@!$&'()*+,;=-._~")
    query = environ.get("QUERY_STRING")
    return path + (f"?{query}" if query else "")


def _model_id(path_qs: str) -> str:
    """The model id of ``/v1/models/<id>``, decoded from its one raw path segment."""
    return unquote(path_qs.split("?", 1)[0][len("/v1/models/") :])
