"""What a connection may cost before it carries a key: a deadline for the request
head, a cap on connections per client address, and no ambiguous body framing.

Without a head deadline a client trickling one byte every minute holds a connection
for ever (the idle timeout counts only silence): Go's ``ReadHeaderTimeout``, nginx's
``client_header_timeout``. Without the cap one address can take every connection a
worker has. A request whose body length can be read two ways (``Transfer-Encoding``
with ``Content-Length``, two lengths, a bare CR, ``Content-Length : 5``) is how
requests are smuggled past a proxy in front: it is refused with 400 and the
connection closed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import gevent

# the answer to a connection past the cap of its client address
TOO_MANY = (
    b"HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nContent-Length: 0"
    b"\r\nRetry-After: 5\r\n\r\n"
)


class HeadTimeout(OSError):
    """The request head did not arrive in time: the connection is dropped."""


def framing_problem(headers) -> str | None:
    """Why a request's body framing is ambiguous, or None when it is clear."""
    lengths = headers.get_all("content-length") or []
    codings = headers.get_all("transfer-encoding") or []
    if codings and lengths:
        return "Transfer-Encoding together with Content-Length"
    if len(codings) > 1 or (codings and codings[0].strip().lower() != "chunked"):
        return "Transfer-Encoding other than a single chunked"
    if len(lengths) > 1:
        return "more than one Content-Length"
    if lengths and not lengths[0].strip().isdigit():
        return "a Content-Length that is not a number"
    if getattr(headers, "bare_cr", False):  # noted by ``headers.parse_headers``
        return "a bare CR in a header"
    bad_line = getattr(headers, "bad_line", None)  # noted there too
    if bad_line:
        return bad_line
    return None


class ConnectionGuard:
    """Per-worker counts of open connections per client address."""

    def __init__(self, limit: int, uncapped: Iterable[str] = ()):
        self.limit = limit  # 0: no cap
        self.uncapped = frozenset(uncapped)  # a reverse proxy: one address for all
        self.open: Counter[str] = Counter()

    def admit(self, address: str) -> bool:
        """Count a new connection from ``address``; False when it is over the cap."""
        if not self.limit or address in self.uncapped:
            return True
        if self.open[address] >= self.limit:
            return False
        self.open[address] += 1
        return True

    def release(self, address: str) -> None:
        """A connection from ``address`` closed."""
        if self.limit and address not in self.uncapped:
            self.open[address] -= 1
            if self.open[address] <= 0:
                del self.open[address]


def head_deadline(seconds: float) -> gevent.Timeout | None:
    """A started timer that raises ``HeadTimeout`` in this greenlet, or None."""
    if not seconds:
        return None
    return gevent.Timeout.start_new(seconds, HeadTimeout("request head too slow"))
