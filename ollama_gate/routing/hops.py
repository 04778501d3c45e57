"""Gateways in front of gateways: the hop count every upstream request carries, so a
call never goes round between peers that list each other as backends.

Each request the gateway sends upstream says how many gateways it has passed
(``X-Ollama-Gate-Hops``: 1 from the first); a call arriving with more than
``MAX_HOPS`` is refused with 508 Loop Detected. A gateway answers a request that
carried the header with the header (that is how a peer is known from an Ollama), and
a merged model list asked by a peer is made from its own non-peer backends only.
"""

from __future__ import annotations

from flask import Request, Response
from werkzeug.datastructures import Headers

from ..call import Call
from ..errors import ApiError
from ..upstream.headers import HOPS

HOPS_IN = "routing.hops"  # call.extra: the hops the call came with (0: a client)


def hops_of(headers: Headers) -> int:
    """The hops a request says it has made (0 without the header); 400 when the
    header is not a count."""
    value = headers.get(HOPS)
    if value is None:
        return 0
    value = value.strip()
    if not is_count(value):
        raise ApiError(400, f"{HOPS} must be a count of gateways, not {value[:20]!r}")
    return int(value)


def admit(call: Call, headers: Headers, max_hops: int) -> None:
    """Keep the call's hop count; 508 past ``max_hops``."""
    hops = hops_of(headers)
    call.extra[HOPS_IN] = hops
    if hops > max_hops:
        raise ApiError(
            508,
            f"loop detected: this call already passed {hops} gateways and "
            f"OLLAMA_GATE_MAX_HOPS is {max_hops} (do peers list each other?)",
        )


def outgoing(call: Call) -> str:
    """The hop header's value for the call's upstream request."""
    return str(call.extra.get(HOPS_IN, 0) + 1)


def echo(request: Request, response: Response) -> None:
    """Answer a gateway's request with the header: the asking gateway learns that
    this backend is a peer, not an Ollama."""
    value = request.headers.get(HOPS, "").strip()
    if value:
        response.headers[HOPS] = value if is_count(value) else "0"


def is_count(value: str) -> bool:
    """ASCII digits, at most four (``isdigit`` alone takes ``²``, which int() does
    not)."""
    return value.isascii() and value.isdigit() and len(value) <= 4
