"""A webhook receiver for the tests: a threaded HTTP server on loopback that keeps
every request and answers with the statuses it is told, in turn."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """Records each POST (headers, body, JSON) and answers ``statuses`` in turn
    (the last one for every request after)."""

    def __init__(self, statuses: tuple[int, ...] = (200,), delay: float = 0.0):
        self.statuses = list(statuses)
        self.delay = delay
        self.received: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.delay:
                    threading.Event().wait(receiver.delay)
                with receiver.lock:
                    receiver.received.append(
                        {
                            "path": self.path,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "body": body,
                            "json": json.loads(body),
                        }
                    )
                    n = len(receiver.received)
                status = receiver.statuses[min(n, len(receiver.statuses)) - 1]
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Stop listening."""
        self.server.shutdown()
        self.server.server_close()

    def ids(self) -> list[int]:
        """The event ids received, in order."""
        with self.lock:
            return [r["json"]["id"] for r in self.received]
