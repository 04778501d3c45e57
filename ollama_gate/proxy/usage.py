"""Every admitted ``/v1`` stream reports its tokens, whether or not the client asked.

The OpenAI SDKs stream without ``stream_options.include_usage``, and then Ollama
sends no token counts at all: such a stream would never be charged to a token quota.
So the gateway asks for the usage itself and takes out of the stream what the client
did not ask for: the final ``choices: []`` usage chunk, and on ``/v1/completions`` the
zeroed ``usage`` Ollama adds to every chunk. The kept answer (for quotas and
history) still has them.
"""

from __future__ import annotations

import re

from ..call import Call
from ..gofields import go_field, without

ASKS_USAGE = ("/v1/chat/completions", "/v1/completions")

_USAGE_FIELD = re.compile(rb',"usage":\{[^{}]*\}')


def ask_for_usage(call: Call) -> None:
    """Make a ``/v1`` stream ask for its usage (``call.payload`` is rewritten)."""
    payload = call.payload
    if call.endpoint not in ASKS_USAGE or payload is None:
        return
    if go_field(payload, "stream") is not True:
        return
    options = go_field(payload, "stream_options")
    if isinstance(options, dict) and go_field(options, "include_usage") is True:
        return  # the client asked: its stream is passed as it comes
    options = dict(options) if isinstance(options, dict) else {}
    options = without(options, "include_usage")
    options["include_usage"] = True
    # Ollama's decoder matches names case-insensitively: one spelling only
    rewritten = without(payload, "stream_options")
    rewritten["stream_options"] = options
    call.strip_usage = True  # the usage in the answer is the gateway's
    call.payload, call.rewritten = rewritten, True


def strip_usage(piece: bytes) -> bytes:
    """A relayed piece without the usage the gateway asked for (a stream step's
    function: ``Stage.stream``)."""
    if b'"usage"' not in piece:  # most pieces: one search, passed as they are
        return piece
    *events, rest = piece.split(b"\n\n")  # ``rest``: after the last event
    out = b"".join(_without_usage(event) for event in events) + rest
    return type(piece)(out)  # a LastPiece stays one (b"" when nothing is left)


def _without_usage(event: bytes) -> bytes:
    """One SSE event (with its blank line back) minus the usage; the usage chunk
    itself disappears."""
    if b'"usage"' in event:
        if b'"choices":[]' in event:
            return b""
        event = _USAGE_FIELD.sub(b"", event)
    return event + b"\n\n"
