"""The pooled upstream connection: one write per request, a connect that does not wait
for a handshake already over, and a one-syscall liveness check."""

from __future__ import annotations

import contextvars
import errno
import ipaddress
import socket

import urllib3.connection
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util.timeout import _DEFAULT_TIMEOUT

# the connections a request sends on, for a caller that may have to cut them
# (``upstream.cut.Cuttable``); unset for every other request
SENDING: contextvars.ContextVar[list | None] = contextvars.ContextVar(
    "ollama_gate_sending", default=None
)


class PooledConnection(urllib3.connection.HTTPConnection):
    """urllib3's connection: one write per request and a one-syscall liveness check."""

    _hold = False  # keep the next write (the head) to send it with the body
    _held: bytes | None = None

    def request(
        self,
        method: str,
        url: str,
        body=None,
        headers=None,  # noqa: ANN001
        **kwargs,
    ) -> None:
        """Send a request; a bytes body leaves in the same write as the head."""
        # http.client writes the head and the body separately: two system calls, and
        # the upstream may wake for a head it cannot act on yet
        chunked = kwargs.get("chunked")
        watching = SENDING.get()
        if watching is not None:
            watching.append(self)
        self._hold = isinstance(body, bytes) and bool(body) and not chunked
        try:
            super().request(method, url, body=body, headers=headers, **kwargs)
            if self._held is not None:
                super().send(self._held)
        finally:
            self._hold, self._held = False, None

    def send(self, data) -> None:  # noqa: ANN001 (http.client's signature)
        """Write ``data``, joined to a held head if there is one."""
        if self._hold:
            self._hold, self._held = False, data
            return
        if self._held is not None:
            data, self._held = self._held + data, None
        super().send(data)

    def _new_conn(self) -> socket.socket:
        """Connect; an IP address is used as it is, without the resolver."""
        # gevent's resolver runs getaddrinfo in a thread even for "127.0.0.1": 66 us a
        # connection, which adds up when thousands of streams open at once
        try:
            family = ipaddress.ip_address(self._dns_host.strip("[]")).version
        except ValueError:
            return super()._new_conn()  # a name: urllib3 resolves it
        if self.source_address:
            return super()._new_conn()
        sock = socket.socket(
            socket.AF_INET6 if family == 6 else socket.AF_INET, socket.SOCK_STREAM
        )
        try:
            for option in self.socket_options or ():
                sock.setsockopt(*option)
            if self.timeout is not _DEFAULT_TIMEOUT:
                sock.settimeout(self.timeout)
            address = (self._dns_host.strip("[]"), self.port)
            if not _connected_at_once(sock, address):
                sock.connect(address)  # gevent's: waits for the handshake, or raises
        except TimeoutError as exc:
            sock.close()
            raise ConnectTimeoutError(
                self,
                f"Connection to {self.host} timed out. "
                f"(connect timeout={self.timeout})",
            ) from exc
        except OSError as exc:
            sock.close()
            raise NewConnectionError(
                self, f"Failed to establish a new connection: {exc}"
            ) from exc
        return sock

    @property
    def is_connected(self) -> bool:
        """False when the idle connection was closed (or sent stray bytes)."""
        # urllib3 polls each pooled connection before reusing it; under gevent that poll
        # costs about a tenth of a whole call. gevent's socket wraps a non-blocking one,
        # on which a peek answers at once.
        raw = getattr(self.sock, "_sock", None)
        if raw is None or raw.gettimeout() != 0.0:
            return super().is_connected
        try:
            return not raw.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return True  # nothing to read: the connection is idle and open
        except OSError:
            return False


def _connected_at_once(sock, address) -> bool:
    """Start connecting gevent's ``sock``; True if the connection is already there.

    gevent's ``connect`` always waits for its hub after starting a connection, even
    when (an upstream on the same host) the handshake is over before it could. When
    thousands of streams open at once, each greenlet then went to the back of the
    queue, behind every request still to be parsed, and the upstream requests all left
    at the end of the burst: first token p50 2.07 s and p99 2.32 s for 2,000 streams,
    against 1.56 s and 2.01 s when a finished handshake is used at once (bench/).
    """
    raw = getattr(sock, "_sock", None)
    if raw is None or raw.gettimeout() != 0.0:
        return False
    err = raw.connect_ex(address)
    if err == 0:
        return True
    if err != errno.EINPROGRESS:
        return False  # gevent's connect raises it
    try:
        raw.getpeername()  # answers once the connection is established
    except OSError:
        return False  # still in progress, or failed: gevent's connect waits, raises
    return True
