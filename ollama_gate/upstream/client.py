"""The only code that talks HTTP to Ollama: one pooled client per server, its
timeouts, and its failures mapped to the gateway's 502 and 504."""

from __future__ import annotations

from collections.abc import Iterator
from http.client import RemoteDisconnected
from urllib.parse import urlsplit

import requests
import urllib3
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.util.retry import Retry

from ..errors import ApiError
from .connection import PooledConnection
from .cut import was_cut
from .headers import DEFAULT_HEADERS, HOPS


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


class Upstream:
    """A pooled HTTP client for one Ollama server."""

    def __init__(
        self,
        base_url: str,
        connect_timeout: float,
        read_timeout: float | None,
        pool_size: int,
        token: str | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        # a backend behind its own auth (or another gateway) gets its bearer token;
        # the client's own Authorization never reaches it then
        self.auth = {"Authorization": f"Bearer {token}"} if token else {}
        self.netloc = urlsplit(self.base_url).netloc
        self.timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        # no retries and no redirects, as ``retries=False`` says, made once: urllib3
        # built this object from ``False`` on every call (4 us), and a stream's answer
        # held it for the stream's life
        self.retries = Retry(False, redirect=False)
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
            self.pool.ConnectionCls = PooledConnection
        self.base_path = urlsplit(self.base_url).path

    def send(
        self, method: str, path_qs: str, headers: dict[str, str], body
    ) -> requests.Response:
        """Send a request upstream and return the response with its body still
        unread."""
        # one hop unless the caller counts more (a call that came through a gateway)
        headers = {**DEFAULT_HEADERS, HOPS: "1", **headers}
        if self.auth:
            for name in [n for n in headers if n.lower() == "authorization"]:
                del headers[name]
            headers.update(self.auth)
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
        # a body read from the client as it goes cannot be sent twice
        attempts = 1 if isinstance(body, StreamedBody) else 2
        for attempt in range(attempts):
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
                    retries=self.retries,
                    timeout=self.timeout,
                    chunked=chunked,
                )
                break
            except MaxRetryError as exc:
                raise _upstream_error(exc.reason or exc) from None
            except (HTTPError, OSError) as exc:
                if attempt + 1 < attempts and stale_connection(exc) and not was_cut():
                    continue  # the next try takes a fresh connection
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


def stale_connection(exc: BaseException) -> bool:
    """True when a pooled keep-alive connection had been closed by the server: the
    request met a closed socket before any answer, so sending it again is safe.

    The pool checks each connection before reuse, but the server may close it just
    after (Ollama's idle timeout); without a retry that call got a 502.
    """
    cause = exc.args[1] if isinstance(exc, ProtocolError) and len(exc.args) > 1 else exc
    return isinstance(
        cause, (RemoteDisconnected, ConnectionResetError, BrokenPipeError)
    )


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
