"""The streaming relay: bytes go to the client as they arrive; the call is finished
after."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator

import requests

from ..call import Call
from ..errors import is_openai_path
from ..upstream import LastPiece, iter_available

STREAM_TYPES = ("application/x-ndjson", "text/event-stream")


def is_stream(content_type: str) -> bool:
    """True when the upstream answers with a stream that must be relayed as it comes."""
    return content_type.startswith(STREAM_TYPES)


def error_line(call: Call, message: str) -> bytes:
    """The final line that tells a client its stream failed, in its framing."""
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


def relay(
    resp: requests.Response, call: Call, finish: Callable[[Call], None]
) -> Iterator[bytes]:
    """Yield the upstream's chunks unchanged; close the upstream and finish the call at
    the end.

    ``iter_available`` yields chunks as soon as they are read (every chunk already
    there in one piece), so nothing is held back. When the client goes away, the
    WSGI server closes this generator (``GeneratorExit`` at the ``yield``) and the
    ``finally`` closes the upstream at once, which makes Ollama stop generating.
    """
    keep = call.keep
    try:
        # the server sends the status and headers with the first piece, in one write
        for chunk in iter_available(resp):
            if call.ttfb is None:
                call.ttfb = time.perf_counter() - call.t0
            keep(chunk)
            if type(chunk) is LastPiece:
                # the server ends the client's body with this piece: the call is over
                # for the client, so its slots are released before it can call again
                call.completed = True
                _end(resp, call, finish)
            yield chunk
        call.completed = True
    except GeneratorExit:
        call.disconnected = not call.finished
        raise
    except (requests.RequestException, OSError) as exc:
        call.error = f"upstream stream failed: {type(exc).__name__}"
        yield error_line(call, call.error)
    finally:
        if not call.finished:
            _end(resp, call, finish)


def _end(resp: requests.Response, call: Call, finish: Callable[[Call], None]) -> None:
    """Close the upstream answer and finish the call (once)."""
    resp.close()
    call.total = time.perf_counter() - call.t0
    finish(call)


def replay(
    chunks: Iterable[bytes], call: Call, finish: Callable[[Call], None]
) -> Iterator[bytes]:
    """A stage's own streamed answer (no upstream), kept and finished as a relay is."""
    try:
        for chunk in chunks:
            if call.ttfb is None:
                call.ttfb = time.perf_counter() - call.t0
            call.keep(chunk)
            yield chunk
        call.completed = True
    except GeneratorExit:
        call.disconnected = True
        raise
    finally:
        if not call.finished:
            call.total = time.perf_counter() - call.t0
            finish(call)
