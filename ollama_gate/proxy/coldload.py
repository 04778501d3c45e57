"""Calls that load their model: a client that hangs up does not abort the load, and
a stream's head goes at once.

Ollama sends nothing until a model is loaded (30-120 s for a large one) and aborts
the load when the call's client hangs up, so a client that gives up and retries
finds it cold again. For a cold call (``routing.loads.cold_model``) the gateway
watches its client while the upstream loads: when the client leaves, the upstream
call is kept until its answer's head (the model is loaded), at most
``COLD_LOAD_GRACE`` seconds, then closed; the call is recorded and its slot freed
only then (the backend was busy loading). A streamed call gets its head at once, so
a client with a header timeout keeps waiting; a failure after that is the stream's
error line in its API's framing (Ollama's ``{"error": ...}`` on native paths).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from flask import Response, copy_current_request_context, request, stream_with_context

from ..call import Call
from ..errors import ApiError
from ..routing.loads import cold_model
from ..server.peer import closed
from ..subjects import levels_of, nearest
from ..upstream.cut import Cuttable
from .relay import after_head

log = logging.getLogger("ollama_gate.proxy")

NDJSON = "application/x-ndjson"
POLL = 0.1
# seconds a cold stream waits for its upstream before it sends its head: a failure
# that quick (no connection, a bad request) keeps its own status; a load takes longer
PROGRESS_EVERY = 1.0  # seconds between loading lines (``--loading-progress``)
HEAD_AFTER = 1.0  # seconds between looks at the client of a call waiting for a load
# the paths whose answer streams unless asked not to, and those that stream if asked
STREAMS_UNLESS_ASKED = ("/api/generate", "/api/chat")
STREAMS_IF_ASKED = (
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/responses",
    "/v1/messages",
)


def cold_call(call: Call, upstream, grace: float) -> str | None:
    """The model a call will load (it is loaded on none of its backends), else
    None; always None when ``grace`` is 0 (off), or outside gunicorn (the test
    client, ``flask run``: no client socket to watch)."""
    if grace <= 0 or _client_socket() is None:
        return None
    name = cold_model(
        call, getattr(upstream, "candidates", ()), getattr(upstream, "model", None)
    )
    if name is not None:
        call.cold_model = name
    return name


def streams(call: Call) -> bool:
    """True when the call's answer will be a stream."""
    payload = call.payload if isinstance(call.payload, dict) else {}
    if call.path in STREAMS_UNLESS_ASKED:
        return payload.get("stream") is not False
    return call.path in STREAMS_IF_ASKED and payload.get("stream") is True


def stream_type(call: Call) -> str:
    """The content type of the call's stream, as Ollama sends it."""
    return "text/event-stream" if call.path.startswith("/v1/") else NDJSON


class Watch:
    """Watches a cold call's client while the upstream loads; once it has left for
    ``grace`` seconds, cuts the upstream call (the load is abandoned)."""

    def __init__(self, sock, grace: float, cuttable: Cuttable):
        self.sock = sock
        self.grace = grace
        self.cuttable = cuttable
        self.gone_at: float | None = None
        self.stopped = threading.Event()

    @property
    def gone(self) -> bool:
        """True once the client was seen gone."""
        return self.gone_at is not None

    def start(self) -> Watch:
        """Watch in the background (a greenlet under gevent); nothing to watch
        without the client's socket (the test client)."""
        if self.sock is not None:
            threading.Thread(target=self._run, name="cold-watch", daemon=True).start()
        return self

    def stop(self) -> None:
        """The upstream answered (or failed): stop watching."""
        self.stopped.set()

    def _run(self) -> None:
        while not self.stopped.wait(POLL):
            if self.gone_at is None:
                if closed(self.sock):
                    self.gone_at = time.monotonic()
            elif time.monotonic() - self.gone_at >= self.grace:
                log.warning("a model load outlived its client by %.0f s", self.grace)
                self.cuttable.cut()
                return


class Pending:
    """A send running in the background (a greenlet under gevent): its result,
    or its exception, once it is done."""

    def __init__(self, send: Callable):
        self.done = threading.Event()
        self.value = None
        self.error: BaseException | None = None
        threading.Thread(target=self._run, args=(send,), daemon=True).start()

    def _run(self, send: Callable) -> None:
        try:
            self.value = send()
        except BaseException as exc:  # handed to whoever waits for the result
            self.error = exc
        finally:
            self.done.set()

    def result(self):
        """Wait for the send; its value, or raise its exception."""
        self.done.wait()
        if self.error is not None:
            raise self.error
        return self.value


def send_watched(call: Call, upstream, headers, body, sock, grace: float):
    """``upstream.send`` watched: ``(answer, client gone)``; raises its ApiError
    (the client marked gone if it was)."""
    cuttable = Cuttable()
    watch = Watch(sock, grace, cuttable).start()
    began, queued = time.perf_counter(), (call.queue_wait or 0.0)
    try:
        with cuttable.sending():
            resp = upstream.send(call.method, call.upstream_path, headers, body)
    except ApiError as exc:
        if watch.gone:
            call.disconnected = True
            if cuttable.cut_done:
                exc.message = f"model load cut {grace:g} s after the client left"
        raise
    finally:
        watch.stop()
    queued = (call.queue_wait or 0.0) - queued  # waited for a slot meanwhile
    call.head_wait = max(0.0, time.perf_counter() - began - queued)
    return resp, watch.gone


def forward(
    g,
    call: Call,
    upstream,
    headers: dict,
    body,
    answer: Callable,
    steps: list,
    out_headers: list,
) -> Response:
    """Send a cold call; ``answer(resp)`` makes the usual response of a warm one.
    A stream's head (``out_headers``, the stages' own) goes at once, its pieces
    through ``steps``."""
    grace = g.settings["COLD_LOAD_GRACE"]
    sock = _client_socket()

    def send():
        return send_watched(call, upstream, headers, body, sock, grace)

    if streams(call):
        pending = Pending(copy_current_request_context(send))
        if pending.done.wait(HEAD_AFTER):  # a quick answer or failure: as usual
            resp, gone = pending.result()
            return answer(resp) if not gone else _gone(g, call, resp)
        content_type = stream_type(call)
        call.status, call.content_type, call.streamed = 200, content_type, True
        lines = loading_lines(call, pending) if wants_progress(call) else ()
        out = Response(
            stream_with_context(
                after_head(pending.result, call, g.finish, steps, lines)
            ),
            status=200,
            headers=out_headers,
            content_type=content_type,
            direct_passthrough=True,
        )
        out.headers["X-Accel-Buffering"] = "no"
        return out
    resp, gone = send()
    return answer(resp) if not gone else _gone(g, call, resp)


def wants_progress(call: Call) -> bool:
    """True when the call's chain opted in (``--loading-progress on``) and its
    stream is a native one (an OpenAI-style client has no place for the line)."""
    return call.path in STREAMS_UNLESS_ASKED and bool(
        nearest(levels_of(call), "loading_progress", False)
    )


def loading_lines(call: Call, pending: Pending) -> Iterator[bytes]:
    """A line every ``PROGRESS_EVERY`` s until the upstream answers: a chunk as
    Ollama's own (``done`` false, empty content) with a ``gateway`` field that
    clients ignore (ollama-python's models and Go's decoder skip unknown fields)."""
    began = time.monotonic()
    while not pending.done.wait(PROGRESS_EVERY):
        yield progress_line(call, time.monotonic() - began)


def progress_line(call: Call, seconds: float) -> bytes:
    """One loading line of ``call``'s stream (chat's or generate's shape)."""
    line: dict = {
        "model": call.model or "",
        "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }
    if call.path == "/api/chat":
        line["message"] = {"role": "assistant", "content": ""}
    else:
        line["response"] = ""
    line["done"] = False
    line["gateway"] = {"loading": call.cold_model, "waited_ms": round(seconds * 1000)}
    return json.dumps(line, separators=(",", ":")).encode() + b"\n"


def _gone(g, call: Call, resp) -> Response:
    """End a call whose client left while its model loaded (loaded now)."""
    resp.close()  # the model is loaded: what it answers goes to nobody
    call.status = resp.status_code
    call.disconnected = True
    call.total = time.perf_counter() - call.t0
    g.finish(call)
    return Response(b"", status=resp.status_code)


def _client_socket():
    """The client's socket under gunicorn, else None."""
    return request.environ.get("gunicorn.sock")
