"""A reverse proxy in front of the test OpenID provider that passes everything as it
is, except that it can change the ``id_token`` in the token endpoint's answers: the
provider's real discovery, keys and flow, with the tokens a forger would send."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.helpers.services import free_port

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class TamperProxy:
    """HTTP/1.0 pass-through to ``127.0.0.1:upstream``; ``tamper`` changes ID tokens;
    ``paths`` lists the paths asked for (to count JWKS fetches)."""

    def __init__(self, upstream: int):
        self.upstream = upstream
        self.port = free_port()
        self.tamper: Callable[[str], str] | None = None
        self.paths: list[str] = []
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> TamperProxy:
        """Listen on the proxy's port in a thread."""
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def rewrite(self, path: str, body: bytes) -> bytes:
        """The token endpoint's answer with its ID token changed by ``tamper``."""
        change = self.tamper
        if change is None or not path.startswith("/openid/token"):
            return body
        try:
            answer = json.loads(body)
        except ValueError:
            return body
        if "id_token" in answer:
            answer["id_token"] = change(answer["id_token"])
        return json.dumps(answer).encode()


def _handler(proxy: TamperProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def relay(self) -> None:
            proxy.paths.append(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {
                k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS
            }
            conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream, timeout=30)
            try:
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    answer = conn.getresponse()
                except OSError:  # the provider is not up (yet)
                    self.send_error(502)
                    return
                data = proxy.rewrite(self.path, answer.read())
                self.send_response(answer.status, answer.reason)
                for key, value in answer.getheaders():
                    if key.lower() not in HOP_HEADERS:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            finally:
                conn.close()

        do_GET = do_POST = relay

        def log_message(self, *args) -> None:  # quiet: the tests read ``paths``
            pass

    return Handler
