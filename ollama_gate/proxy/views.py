"""The Ollama and OpenAI surfaces, top to bottom: auth, admission, answer or route,
upstream, relay or whole; release and record follow from ``Gate.finish``."""

from __future__ import annotations

import time

from flask import Blueprint, Response, current_app, request

from ..authheaders import key_from_headers
from ..call import ENVIRON_KEY, Call
from ..errors import ApiError, error_response
from ..keys import AuthError, authenticate
from ..ops.requestid import request_id
from ..remote import client_of
from ..routing import hops
from ..routing.merged import heartbeat
from ..upstream import forward_headers, response_headers
from ..upstream.headers import HOPS
from . import coldload
from .parsing import endpoint_of, outgoing_body, read_body, upstream_path
from .relay import Relay, is_stream, replay
from .usage import ask_for_usage, strip_usage

bp = Blueprint("proxy", __name__)

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def gate():
    """The per-app gateway state (pipeline, key cache, recorder, CORS)."""
    return current_app.extensions["ollama_gate"]


@bp.before_request
def _refuse_other_origins():
    """A browser page at an origin not allowed gets 403, as from Ollama: else any
    site could make a visitor's browser post to the gateway (no preflight needed)."""
    if request.method != "OPTIONS" and not gate().cors.permits(request):
        return error_response(request.path, 403, "origin not allowed")
    return None


@bp.after_request
def _cors(response: Response) -> Response:
    """Let approved browser origins read API answers; tell a peer gateway that
    this is one too (``routing.hops``)."""
    hops.echo(request, response)
    return gate().cors.decorate(request, response)


@bp.teardown_request
def _let_go_of_the_call(exc) -> None:
    """Take the call out of the environ once the hooks after the view have run: the
    call holds the request's headers (a view of the environ), and the pair would be a
    cycle, with the answer the call keeps, that only the garbage collector frees."""
    request.environ.pop(ENVIRON_KEY, None)


@bp.route("/", methods=["GET", "HEAD"])
def root():
    """Ollama's heartbeat (``HEAD /`` from the CLI), answered without a key."""
    g = gate()
    if len(g.fleet.states) > 1:
        g.checker.ensure_fresh()
        return heartbeat(g.fleet)
    headers = forward_headers(request.headers.items(), drop_authorization=True)
    resp = g.upstream.send(request.method, "/", headers, None)
    body = g.upstream.read_whole(resp)
    return Response(
        body, status=resp.status_code, headers=response_headers(resp.headers)
    )


@bp.route("/api/<path:rest>", methods=METHODS)
@bp.route("/v1/<path:rest>", methods=METHODS)
def proxy(rest: str):
    """Every ``/api/*`` and ``/v1/*`` call, through the pipeline's stages."""
    g = gate()
    if request.method == "OPTIONS" and request.headers.get("Origin"):
        return g.cors.preflight(request)
    call = start_call(g)  # the key's identity, or 401/403
    try:
        body = read_body(call, g.settings["MAX_BODY_MB"])  # the model is known now
        g.pipeline.admit(call)  # access, concurrency, rate limits, quotas
        answer = g.pipeline.answer(call)  # e.g. a cache hit: no upstream at all
        if answer is not None:
            return answered(g, call, answer)
        upstream = g.pipeline.route(call)  # the backends that serve it, best first
        ask_for_usage(call)  # every /v1 stream reports its tokens
        return forward(g, call, upstream, outgoing_body(call, body))
    except BaseException as exc:
        if not call.finished:  # refused or failed before an answer: finish it here
            if isinstance(exc, ApiError):
                call.status, call.error = exc.status, exc.message
            call.total = time.perf_counter() - call.t0
            g.finish(call)
        raise


def start_call(g) -> Call:
    """Authenticate the caller and open the call's record."""
    client = client_of(request.environ)
    try:
        identity = authenticate(
            request.headers,
            g.key_cache,
            client.address if client.known else None,  # never a proxy's
            lambda: g.hosts.allowed(request.host),  # asked of keyless calls only
        )
    except AuthError as exc:
        raise ApiError(exc.status, exc.message) from None
    call = Call(
        identity=identity,
        method=request.method,
        path=request.path,
        upstream_path=upstream_path(request.environ),
        endpoint=endpoint_of(request.path),
        client_addr=client.address,
        user_agent=request.headers.get("User-Agent"),
        request_headers=request.headers,
        request_id=request_id(request.environ),
    )
    request.environ[ENVIRON_KEY] = call  # for the hooks after the view
    return call


def forward(g, call: Call, upstream, body) -> Response:
    """Send the call upstream; relay a stream as it comes, or pass a whole answer at
    once."""
    _, key_header = key_from_headers(request.headers)
    headers = forward_headers(
        request.headers.items(), drop_authorization=key_header == "Authorization"
    )
    headers[HOPS] = hops.outgoing(call)  # one gateway more on its way
    if coldload.cold_call(call, upstream, g.settings["COLD_LOAD_GRACE"]):
        return coldload.forward(
            g,
            call,
            upstream,
            headers,
            body,
            lambda resp: answer_of(g, call, upstream, resp),
            stream_steps(g, call),
            with_stage_headers(call, []),
        )
    resp = upstream.send(call.method, call.upstream_path, headers, body)
    return answer_of(g, call, upstream, resp)


def answer_of(g, call: Call, upstream, resp) -> Response:
    """The upstream's answer on its way: a stream relayed as it comes, a whole
    answer at once."""
    call.backend = call.backend or upstream.base_url  # a fleet's names its backend
    call.status = resp.status_code
    call.content_type = resp.headers.get("Content-Type", "")
    out_headers = with_stage_headers(call, response_headers(resp.headers))
    if is_stream(call.content_type) and call.method != "HEAD":
        call.streamed = True
        out = Response(
            Relay(resp, call, g.finish, stream_steps(g, call)),
            status=resp.status_code,
            headers=out_headers,
            direct_passthrough=True,
        )
        out.headers["X-Accel-Buffering"] = "no"
        return out
    data = g.pipeline.filter(call, upstream.read_whole(resp))
    finish_whole(g, call, data)
    return Response(data, status=resp.status_code, headers=out_headers)


def with_stage_headers(call: Call, headers: list[tuple[str, str]]) -> list:
    """The answer's headers with the stages' own (the backend, the cache's verdict),
    which replace any of the same name from upstream."""
    own = call.answer_headers
    if not own:
        return headers
    names = {name.lower() for name in own}
    return [h for h in headers if h[0].lower() not in names] + list(own.items())


def answered(g, call: Call, response: Response) -> Response:
    """A stage's own answer (no upstream), finished like an upstream's."""
    for name, value in call.answer_headers.items():
        response.headers[name] = value
    call.status = response.status_code
    call.content_type = response.content_type or ""
    if response.is_streamed:
        call.streamed = True
        response.response = replay(
            response.response, call, g.finish, stream_steps(g, call)
        )
        return response
    data = g.pipeline.filter(call, response.get_data())
    finish_whole(g, call, data)
    response.set_data(data)
    return response


def stream_steps(g, call: Call) -> list:
    """What each piece of the call's streamed answer passes through after it was
    kept: the stages' stream steps, then the usage the client did not ask for goes."""
    steps = g.pipeline.stream(call)
    if call.strip_usage:
        steps.append(strip_usage)
    return steps


def finish_whole(g, call: Call, data: bytes) -> None:
    """Finish a call answered in one piece, before the piece goes to the client."""
    call.total = call.ttfb = time.perf_counter() - call.t0
    call.completed = True
    call.keep(data)
    g.finish(call)
