"""The only code that talks HTTP to Ollama: one pooled session, header hygiene, timeouts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from http.cookiejar import DefaultCookiePolicy
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from ..errors import ApiError

# Hop-by-hop headers (RFC 9110 7.6.1) plus what the gateway itself owns: the upstream's Host,
# the caller's key headers, Origin (Ollama would 403 origins the gateway already approved),
# and the body framing that requests recomputes.
DROP_REQUEST = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length", "origin",
    "x-api-key", "apikey", "accept-encoding", "cookie",
})
DROP_RESPONSE = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "transfer-encoding", "upgrade", "content-length", "set-cookie",
})


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
        # requests replaces a falsy body with {}; an unknown length must not read as empty
        return True

    def __iter__(self) -> Iterator[bytes]:
        while True:
            piece = self.stream.read(self.PIECE)
            if not piece:
                return
            yield piece


class Upstream:
    """A pooled HTTP client for one Ollama server."""

    def __init__(self, base_url: str, connect_timeout: float, read_timeout: float | None,
                 pool_size: int):
        self.base_url = base_url.rstrip("/")
        self.netloc = urlsplit(self.base_url).netloc
        self.timeout = (connect_timeout, read_timeout)
        session = requests.Session()
        session.trust_env = False  # never route loopback calls through an env proxy
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))  # share no cookies
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        self.session = session

    @staticmethod
    def forward_headers(headers: Iterable[tuple[str, str]], drop_authorization: bool
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

    def send(self, method: str, path_qs: str, headers: dict[str, str], body) -> requests.Response:
        """Send a request upstream and return the response with its body still unread."""
        try:
            return self.session.request(
                method, self.base_url + path_qs, headers=headers, data=body, stream=True,
                timeout=self.timeout, allow_redirects=False,
            )
        except requests.ConnectTimeout:
            raise ApiError(504, "upstream Ollama server timed out (connect)") from None
        except requests.Timeout:
            raise ApiError(504, "upstream Ollama server timed out") from None
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            raise ApiError(502, f"upstream Ollama server unreachable: {_reason(exc)}") from None

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


def _reason(exc: BaseException) -> str:
    """A short reason for a connection failure, without urllib3's object reprs."""
    text = str(exc)
    for known in ("Connection refused", "Name or service not known", "Connection reset",
                  "Remote end closed connection", "Connection aborted"):
        if known in text:
            return known.lower()
    return type(exc).__name__
