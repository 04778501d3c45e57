"""The only code that talks HTTP to Ollama: one pooled session, header hygiene,
timeouts."""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Iterable, Iterator, Mapping
from urllib.parse import urlsplit

import requests
import urllib3
import urllib3.connection
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NewConnectionError,
    ReadTimeoutError,
)
from urllib3.util.timeout import _DEFAULT_TIMEOUT

from ..errors import ApiError

# Hop-by-hop headers (RFC 9110 7.6.1): never forwarded in either direction.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Plus what the gateway itself owns: the upstream's Host, the caller's key headers,
# Origin (Ollama would 403 origins the gateway already approved), cookies, and the body
# framing that requests recomputes.
DROP_REQUEST = HOP_BY_HOP | {
    "proxy-connection",
    "host",
    "content-length",
    "origin",
    "x-api-key",
    "apikey",
    "accept-encoding",
    "cookie",
}
# What requests' session added to every request; kept so the upstream sees the same.
DEFAULT_HEADERS = {
    "User-Agent": f"python-requests/{requests.__version__}",
    "Accept": "*/*",
    "Connection": "keep-alive",
}
DROP_RESPONSE = HOP_BY_HOP | {"content-length", "set-cookie"}


# Largest read from the upstream socket for a stream.
PIECE = 64 * 1024


class LastPiece(bytes):
    """The final piece of a streamed body. A WSGI server that knows the mark (the
    handler in ``server/handler.py``) sends the end of its chunked body in the same
    write; to any other it is plain bytes."""

    ends_body = True


class StreamedBody:
    """A request body read from the client in pieces, never held whole in memory."""

    PIECE = 64 * 1024

    def __init__(self, stream, length: int | None):
        self.stream = stream
        self.length = length

    def __len__(self) -> int:
        # requests sends Content-Length when this is non-zero, chunked otherwise
        return self.length or 0

    def __bool__(self) -> bool:
        # requests replaces a falsy body with {}; an unknown length must not read as
        # empty
        return True

    def __iter__(self) -> Iterator[bytes]:
        while True:
            piece = self.stream.read(self.PIECE)
            if not piece:
                return
            yield piece


class _Connection(urllib3.connection.HTTPConnection):
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


class Upstream:
    """A pooled HTTP client for one Ollama server."""

    def __init__(
        self,
        base_url: str,
        connect_timeout: float,
        read_timeout: float | None,
        pool_size: int,
    ):
        self.base_url = base_url.rstrip("/")
        self.netloc = urlsplit(self.base_url).netloc
        self.timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        # requests' own pool, called directly: Session.request spent about 0.3 ms per
        # call preparing, merging settings and hooks that the gateway does not use (no
        # cookies, no redirects, no environment proxies). The answer is still wrapped in
        # a ``requests.Response``, so ``iter_content`` and ``content`` behave as before.
        tls = (
            {"cert_reqs": "CERT_REQUIRED", "ca_certs": requests.certs.where()}
            if self.base_url.startswith("https:")
            else {}
        )
        self.pool = urllib3.connection_from_url(
            self.base_url, maxsize=pool_size, block=False, retries=False, **tls
        )
        if not tls:
            self.pool.ConnectionCls = _Connection
        self.base_path = urlsplit(self.base_url).path

    @staticmethod
    def forward_headers(
        headers: Iterable[tuple[str, str]], drop_authorization: bool
    ) -> dict[str, str]:
        """The client's headers fit to send upstream."""
        pairs = list(headers)
        drop = set(DROP_REQUEST)
        for name, value in pairs:
            if name.lower() == "connection":
                drop.update(token.strip().lower() for token in value.split(","))
        if drop_authorization:
            drop.add("authorization")
        out = {name: value for name, value in pairs if name.lower() not in drop}
        out["Accept-Encoding"] = "identity"  # pass bytes through untouched
        return out

    @staticmethod
    def response_headers(headers: Mapping[str, str]) -> list[tuple[str, str]]:
        """The upstream's response headers fit to send to the client."""
        drop = set(DROP_RESPONSE)
        conn = headers.get("Connection")
        if conn:
            drop.update(token.strip().lower() for token in conn.split(","))
        return [(k, v) for k, v in headers.items() if k.lower() not in drop]

    def send(
        self, method: str, path_qs: str, headers: dict[str, str], body
    ) -> requests.Response:
        """Send a request upstream and return the response with its body still
        unread."""
        headers = {**DEFAULT_HEADERS, **headers}
        chunked = False
        if isinstance(body, StreamedBody):
            if len(body):
                headers["Content-Length"] = str(len(body))
            else:
                chunked = True  # unknown length: pass it on in pieces
        elif body is not None:
            headers["Content-Length"] = str(len(body))
        elif method not in ("GET", "HEAD"):
            headers["Content-Length"] = "0"
        try:
            raw = self.pool.urlopen(
                method,
                self.base_path + path_qs,
                body=body,
                headers=headers,
                redirect=False,
                assert_same_host=False,
                preload_content=False,
                decode_content=False,
                retries=False,
                timeout=self.timeout,
                chunked=chunked,
            )
        except MaxRetryError as exc:
            raise _upstream_error(exc.reason or exc) from None
        except (HTTPError, OSError) as exc:
            raise _upstream_error(exc) from None
        resp = requests.Response()
        resp.status_code = raw.status
        resp.headers = CaseInsensitiveDict(raw.headers)
        resp.raw = raw
        resp.reason = raw.reason
        resp.url = self.base_url + path_qs
        return resp

    @staticmethod
    def read_whole(resp: requests.Response) -> bytes:
        """Read a whole (non-streamed) body, mapping failures to 502/504."""
        try:
            return resp.content
        except requests.Timeout:
            raise ApiError(504, "upstream Ollama server timed out") from None
        except (requests.RequestException, OSError) as exc:
            raise ApiError(502, f"upstream connection failed: {_reason(exc)}") from None
        finally:
            resp.close()


def iter_available(resp: requests.Response) -> Iterator[bytes]:
    """The streamed body, each piece being every chunk already received, joined; the
    last piece is a ``LastPiece`` when the end of the body came with it.

    Like ``iter_content(chunk_size=None)`` nothing waits for more than is there: each
    step makes at most one socket read. But when several chunks (NDJSON lines, SSE
    events) have arrived, they leave in one piece, so the worker makes one write to the
    client instead of one per line, which was the largest cost of a busy stream.
    Failures are raised as requests' exceptions, as ``iter_content`` raises them.
    """
    raw = resp.raw
    original = getattr(raw, "_original_response", None)
    fp = getattr(original, "fp", None)
    if not raw.chunked or fp is None or not hasattr(fp, "read1"):
        yield from resp.iter_content(chunk_size=None)  # not chunked: the plain way
        return
    buf = b""
    pos = 0  # start of the first chunk not yet taken from ``buf``
    while True:
        try:
            data = fp.read1(PIECE)
        except OSError as exc:
            raise _read_error(exc) from None
        if not data:
            raise requests.exceptions.ChunkedEncodingError("upstream closed the stream")
        buf = buf[pos:] + data if pos < len(buf) else data
        pos, pieces, last = 0, [], False
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                break
            try:
                size = int(buf[pos:eol].split(b";", 1)[0], 16)
            except ValueError:
                raise requests.exceptions.ChunkedEncodingError("bad chunk") from None
            if size == 0:
                last = True
                break
            end = eol + 2 + size
            if len(buf) < end + 2:
                break
            pieces.append(buf[eol + 2 : end])
            pos = end + 2
        if last:  # read to the end first: closing the answer then keeps the connection
            try:
                _skip_trailers(fp, buf[eol + 2 :])
            except OSError as exc:  # the end never came: what did still goes first
                if pieces:
                    yield b"".join(pieces)
                raise _read_error(exc) from None
            original.close()  # the whole answer is read: the connection can be reused
            resp._content_consumed = True
        if pieces:
            piece = pieces[0] if len(pieces) == 1 else b"".join(pieces)
            yield LastPiece(piece) if last else piece
        if last:
            return


def _read_error(exc: OSError) -> requests.RequestException:
    """A failed read of a streamed body, as ``iter_content`` reports it."""
    if isinstance(exc, TimeoutError):
        return requests.ConnectionError(exc)
    return requests.exceptions.ChunkedEncodingError(exc)


def _skip_trailers(fp, rest: bytes) -> None:
    """Read the rest of the trailer section (after the last chunk), to its empty
    line."""
    while not (rest.startswith(b"\r\n") or b"\r\n\r\n" in rest):
        line = fp.readline(65537)
        if not line:
            return
        rest += line


def _upstream_error(exc: BaseException) -> ApiError:
    """The 502 or 504 for a request that could not be sent or got no answer."""
    if isinstance(exc, ConnectTimeoutError) and not isinstance(exc, NewConnectionError):
        return ApiError(504, "upstream Ollama server timed out (connect)")
    if isinstance(exc, (ReadTimeoutError, TimeoutError)):
        return ApiError(504, "upstream Ollama server timed out")
    return ApiError(502, f"upstream Ollama server unreachable: {_reason(exc)}")


def _reason(exc: BaseException) -> str:
    """A short reason for a connection failure, without urllib3's object reprs."""
    text = str(exc)
    for known in (
        "Connection refused",
        "Name or service not known",
        "Connection reset",
        "Remote end closed connection",
        "Connection aborted",
    ):
        if known in text:
            return known.lower()
    return type(exc).__name__
