"""The Ollama and OpenAI surfaces: auth, admission checks, then relay or pass whole."""

from __future__ import annotations

import json
import time
from urllib.parse import quote, unquote, urlsplit

from flask import Blueprint, Response, current_app, request

from ..errors import ApiError
from ..keys import AuthError, authenticate, key_from_headers
from ..call import Call
from .relay import is_stream, relay
from .upstream import StreamedBody, Upstream

bp = Blueprint("proxy", __name__)

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# Endpoints whose requests name their model in ``name`` when ``model`` is empty
# (deprecated).
NAME_ALIAS = ("/api/show", "/api/pull", "/api/push", "/api/create", "/api/delete")


def gate():
    """The per-app gateway state (upstream, key cache, recorder, hooks)."""
    return current_app.extensions["ollama_gate"]


@bp.after_request
def _cors(response: Response) -> Response:
    """Let approved browser origins read API answers."""
    return gate().cors.decorate(request, response)


@bp.route("/", methods=["GET", "HEAD"])
def root():
    """Ollama's heartbeat (``HEAD /`` from the CLI), answered without a key."""
    g = gate()
    headers = Upstream.forward_headers(request.headers.items(), drop_authorization=True)
    resp = g.upstream.send(request.method, "/", headers, None)
    body = g.upstream.read_whole(resp)
    return Response(
        body, status=resp.status_code, headers=Upstream.response_headers(resp.headers)
    )


@bp.route("/api/<path:rest>", methods=METHODS)
@bp.route("/v1/<path:rest>", methods=METHODS)
def proxy(rest: str):
    """Every ``/api/*`` and ``/v1/*`` call: check the key, then forward to the
    upstream."""
    g = gate()
    if request.method == "OPTIONS" and request.headers.get("Origin"):
        return g.cors.preflight(request)
    try:
        identity = authenticate(request.headers, g.key_cache)
    except AuthError as exc:
        raise ApiError(exc.status, exc.message) from None
    call = Call(
        identity=identity,
        method=request.method,
        path=request.path,
        upstream_path=upstream_path(request.environ),
        endpoint=endpoint_of(request.path),
        client_addr=request.remote_addr,
        user_agent=request.headers.get("User-Agent"),
        backend=g.upstream.base_url,
    )
    try:
        body = read_body(call, g.settings["MAX_BODY_MB"])
        for (
            check
        ) in g.admission_checks:  # limits, quotas, model access (raise ApiError)
            check(call)
        return forward(g, call, body)
    except BaseException as exc:
        if not call.finished:  # refused or failed before an answer: finish it here
            if isinstance(exc, ApiError):
                call.status, call.error = exc.status, exc.message
            call.total = time.perf_counter() - call.t0
            g.finish(call)
        raise


def forward(g, call: Call, body) -> Response:
    """Send the call upstream; relay a stream as it comes, or pass a whole answer at
    once."""
    _, key_header = key_from_headers(request.headers)
    headers = Upstream.forward_headers(
        request.headers.items(), drop_authorization=key_header == "Authorization"
    )
    resp = g.upstream.send(call.method, call.upstream_path, headers, body)
    call.status = resp.status_code
    call.content_type = resp.headers.get("Content-Type", "")
    out_headers = Upstream.response_headers(resp.headers)
    if is_stream(call.content_type) and call.method != "HEAD":
        call.streamed = True
        out = Response(
            relay(resp, call, g.finish),
            status=resp.status_code,
            headers=out_headers,
            direct_passthrough=True,
        )
        out.headers["X-Accel-Buffering"] = "no"
        return out
    data = g.upstream.read_whole(resp)
    for response_filter in g.response_filters:  # e.g. model lists cut to the allowlist
        data = response_filter(call, data)
    call.total = call.ttfb = time.perf_counter() - call.t0
    call.completed = True
    call.keep(data)
    g.finish(call)
    return Response(data, status=resp.status_code, headers=out_headers)


def read_body(call: Call, max_mb: float):
    """The request body: streamed for blob uploads, else read (bounded) and parsed if
    JSON."""
    if call.endpoint == "/api/blobs/{digest}":
        return (
            StreamedBody(request.stream, request.content_length)
            if call.method == "POST"
            else None
        )
    limit = int(max_mb * 1024 * 1024)
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"request body larger than {max_mb:g} MiB")
    data = request.stream.read(limit + 1)
    if len(data) > limit:
        raise ApiError(413, f"request body larger than {max_mb:g} MiB")
    if data[:1] == b"{" or data.lstrip(b" \t\r\n")[:1] == b"{":
        payload = parse_json(data)
        if isinstance(payload, dict):
            call.payload = payload
            call.model = model_of(call.endpoint, payload)
    elif call.endpoint == "/v1/models/{id}":
        call.model = call.extra["model_id"] = _model_id(call.upstream_path)
    return data or None


def parse_json(data: bytes):
    """The JSON object Ollama's Go decoder would see, or None.

    Go reads the first value and replaces invalid UTF-8, so a body ``json.loads``
    refuses (stray bytes, trailing data) still runs upstream; it must still be recorded
    and checked. The strict parse comes first because it is the common, fast case.
    """
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        pass
    text = data.decode("utf-8", "replace").lstrip(" \t\r\n")
    try:
        return json.JSONDecoder().raw_decode(text)[0]
    except (ValueError, RecursionError):
        return None  # the upstream answers malformed JSON with its own 400


def field(payload: dict, name: str):
    """A top-level field as Go's decoder reads it: names match case-insensitively, last
    wins."""
    value = None
    for key, item in payload.items():
        if key == name or key.casefold() == name:
            value = item  # a later spelling overrides an earlier one, as in Go
    return value


def model_of(endpoint: str, payload: dict) -> str | None:
    """The model a request names (``model``, or the deprecated ``name`` where
    allowed)."""
    model = field(payload, "model")
    if not model and endpoint in NAME_ALIAS:
        model = field(payload, "name")
    if not model and endpoint == "/api/copy":
        model = field(payload, "source")
    return model if isinstance(model, str) and model else None


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
