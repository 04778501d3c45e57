"""The streaming relay: bytes go to the client as they arrive; the call is finished
after."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator

import requests

from ..call import Call
from ..errors import ApiError, anthropic_error, is_anthropic_path, is_openai_path
from ..upstream import LastPiece, Upstream, iter_available

STREAM_TYPES = ("application/x-ndjson", "text/event-stream")
# what a stream step makes of a piece on its way to the client (``Stage.stream``)
Piecewise = Callable[[bytes], bytes]


def through(passes: list[Piecewise], piece: bytes) -> bytes:
    """``piece`` as it leaves for the client: through each stream step in order (after
    it was kept for the record, untouched)."""
    for step in passes:
        piece = step(piece)
    return piece


def is_stream(content_type: str) -> bool:
    """True when the upstream answers with a stream that must be relayed as it comes."""
    return content_type.startswith(STREAM_TYPES)


def error_line(call: Call, message: str) -> bytes:
    """The final line that tells a client its stream failed, in its framing."""
    if is_anthropic_path(call.path):  # Anthropic's own mid-stream error event
        body = json.dumps(anthropic_error(500, message)).encode()
        return b"event: error\ndata: " + body + b"\n\n"
    if call.content_type.startswith("text/event-stream") or is_openai_path(call.path):
        body = json.dumps(
            {
                "error": {
                    "message": message,
                    "type": "api_error",
                    "param": None,
                    "code": None,
                }
            }
        )
        return b"data: " + body.encode() + b"\n\n"
    return json.dumps({"error": message}).encode() + b"\n"


class Relay:
    """A streamed answer on its way to the client: an iterator of the upstream's
    pieces, as any WSGI server takes it, with a fast lane for the gateway's own
    (``pump``)."""

    __slots__ = ("pieces", "call", "passes", "steps")

    def __init__(
        self,
        resp: requests.Response,
        call: Call,
        finish: Callable[[Call], None],
        passes: list[Piecewise] = (),
    ):
        self.pieces = iter_available(resp)
        self.call = call
        self.passes = passes  # each piece passes through these after it was kept
        self.steps = _relay(resp, self.pieces, call, finish, passes)

    def __iter__(self) -> Relay:
        return self

    def __next__(self) -> bytes:
        return next(self.steps)

    def close(self) -> None:
        """The server is done with the answer (at its end, or the client went away)."""
        self.steps.close()

    def pump(self, deliver: Callable[[bytes], bool]) -> bool:
        """Hand the pieces between the first and the last to ``deliver`` in the hub
        as they are read (``StreamedPieces.pump``), each kept for the record first.
        True: ``deliver`` stopped it; False: iterating gives what is left (the last
        piece, a failure's error line). Only once the first piece was taken, so the
        time to the first byte and the record's start are the iterator's."""
        pump = getattr(self.pieces, "pump", None)
        if pump is None or self.call.ttfb is None or self.call.finished:
            return False
        keep, passes = self.call.keep, self.passes

        def kept(piece: bytes) -> bool:
            keep(piece)
            piece = through(passes, piece)
            return deliver(piece) if piece else False

        return pump(kept)


def _relay(
    resp: requests.Response,
    pieces: Iterator[bytes],
    call: Call,
    finish: Callable[[Call], None],
    passes: list[Piecewise],
) -> Iterator[bytes]:
    """Yield the upstream's chunks (through ``passes``); close the upstream and finish
    the call at the end.

    ``pieces`` yields chunks as soon as they are read (every chunk already there in
    one piece), so nothing is held back. When the client goes away, the WSGI server
    closes this generator (``GeneratorExit`` at the ``yield``) and the ``finally``
    closes the upstream at once, which makes Ollama stop generating.
    """
    keep = call.keep
    try:
        # the server sends the status and headers with the first piece, in one write
        for chunk in pieces:
            if call.ttfb is None:
                call.ttfb = time.perf_counter() - call.t0
            keep(chunk)
            if type(chunk) is LastPiece:
                # the server ends the client's body with this piece: the call is over
                # for the client, so its slots are released before it can call again
                call.completed = True
                _end(resp, call, finish)
            chunk = through(passes, chunk)
            if chunk:
                yield chunk
        call.completed = True
    except GeneratorExit:
        call.disconnected = not call.finished
        raise
    except (requests.RequestException, OSError) as exc:
        call.error = f"upstream stream failed: {type(exc).__name__}"
        yield error_line(call, call.error)
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()  # its read timer
        if not call.finished:
            _end(resp, call, finish)


def _end(resp: requests.Response, call: Call, finish: Callable[[Call], None]) -> None:
    """Close the upstream answer and finish the call (once)."""
    resp.close()
    call.total = time.perf_counter() - call.t0
    finish(call)


def replay(
    chunks: Iterable[bytes],
    call: Call,
    finish: Callable[[Call], None],
    passes: list[Piecewise] = (),
) -> Iterator[bytes]:
    """A stage's own streamed answer (no upstream), kept and finished as a relay is."""
    try:
        for chunk in chunks:
            if call.ttfb is None:
                call.ttfb = time.perf_counter() - call.t0
            call.keep(chunk)
            chunk = through(passes, chunk)
            if chunk:
                yield chunk
        call.completed = True
    except GeneratorExit:
        call.disconnected = True
        raise
    finally:
        if not call.finished:
            call.total = time.perf_counter() - call.t0
            finish(call)


class Head(bytes):
    """An empty piece that has the server send the answer's head now
    (``server.handler``), before any of its body."""

    sends_head = True


HEAD = Head()


def after_head(
    send: Callable[[], tuple[requests.Response, bool]],
    call: Call,
    finish: Callable[[Call], None],
    passes: list[Piecewise] = (),
    meanwhile: Iterable[bytes] = (),
) -> Iterator[bytes]:
    """A stream whose head goes before its upstream answers (a model loading):
    ``send()`` waits for the upstream's answer, already on its way (and may be
    asked again); its stream is relayed, and anything else (a
    failure, an error answer) ends the stream with its error line. ``meanwhile``:
    the gateway's own lines until the answer comes (loading progress), neither
    kept in history nor counted as the first byte."""
    resp = None
    try:
        yield HEAD
        yield from meanwhile
        try:
            resp, gone = send()
            if gone:  # the client left while the model loaded: it is loaded now
                call.status = resp.status_code
                call.disconnected = True
                return
            if resp.status_code == 200 and is_stream(
                resp.headers.get("Content-Type", "")
            ):
                yield from _relay(resp, iter_available(resp), call, finish, passes)
                return
            data = Upstream.read_whole(resp)
        except ApiError as exc:
            call.status, call.error = exc.status, exc.message
            yield _first(call, error_line(call, exc.message))
            return
        call.status = resp.status_code
        if resp.status_code >= 400:
            call.error = error_text(data, resp.status_code)
            yield _first(call, error_line(call, call.error))
            return
        # a whole answer (a load-only call): one line of the stream
        call.completed = True
        piece = through(passes, data.rstrip(b"\n") + b"\n")
        call.keep(piece)
        yield _first(call, piece)
    except GeneratorExit:
        if not call.finished:
            call.disconnected = True
        raise
    finally:
        if resp is None and not call.finished:
            resp = _outcome(send)  # the client left first: the load goes on to its end
        if resp is not None:
            resp.close()
        if not call.finished:
            call.total = time.perf_counter() - call.t0
            finish(call)


def _outcome(send: Callable) -> requests.Response | None:
    """The answer ``send`` waits for (a send already under way), or None."""
    try:
        return send()[0]
    except Exception:  # its failure was the call's already, or nobody's
        return None


def _first(call: Call, piece: bytes) -> bytes:
    """``piece``, its time kept as the first byte's when none went before."""
    if call.ttfb is None:
        call.ttfb = time.perf_counter() - call.t0
    return piece


def error_text(data: bytes, status: int) -> str:
    """What an upstream's error answer says (Ollama's ``{"error": ...}``)."""
    try:
        err = json.loads(data).get("error")
    except (ValueError, AttributeError):
        err = None
    if isinstance(err, dict):
        err = err.get("message")
    text = err if isinstance(err, str) and err else data.decode("utf-8", "replace")
    return text.strip()[:500] or f"upstream answered {status}"
