"""The HTTP server: the request handler assembled and the table of routes."""

from __future__ import annotations

import sys
from http.server import ThreadingHTTPServer

from tests.fakes import anthropic as fake_anthropic

from .data import (
    TEXT_CT,
)
from .generate import (
    GenerateRoutes,
)
from .handler import (
    BaseHandler,
)
from .models import (
    ModelRoutes,
)
from .openai import (
    OpenAIRoutes,
)
from .responses import (
    ResponsesRoutes,
)
from .streaming import (
    Streaming,
)


class _Handler(
    ModelRoutes, GenerateRoutes, OpenAIRoutes, ResponsesRoutes, Streaming, BaseHandler
):
    """Ollama's HTTP API: each route's handler from its mixin."""

    def _route(self):
        p = self.route_path
        routes = _ROUTES.get(p)
        if routes is None:
            if p.startswith("/api/blobs/"):
                routes = {"HEAD": _Handler.h_blob_head, "POST": _Handler.h_blob_upload}
            elif (
                p.startswith("/v1/models/")
                and "/" not in p[len("/v1/models/") :]
                and len(p) > len("/v1/models/")
            ):
                routes = {"GET": _Handler.h_v1_model}
        if routes is None:
            self._send_bytes(404, b"404 page not found", TEXT_CT)
            return
        handler = routes.get(self.command)
        if handler is None:
            self._send_bytes(405, b"405 method not allowed", TEXT_CT)
            return
        handler(self)


_H = _Handler
_ROUTES = {
    "/": {"GET": _H.h_root, "HEAD": _H.h_root},
    "/api/version": {"GET": _H.h_version, "HEAD": _H.h_version},
    "/api/status": {"GET": _H.h_status},
    "/api/tags": {"GET": _H.h_tags, "HEAD": _H.h_tags},
    "/api/ps": {"GET": _H.h_ps},
    "/api/show": {"POST": _H.h_show},
    "/api/generate": {"POST": _H.h_generate},
    "/api/chat": {"POST": _H.h_chat},
    "/api/embed": {"POST": _H.h_embed},
    "/api/embeddings": {"POST": _H.h_embeddings},
    "/api/pull": {"POST": _H.h_pull},
    "/api/push": {"POST": _H.h_push},
    "/api/create": {"POST": _H.h_create},
    "/api/copy": {"POST": _H.h_copy},
    "/api/delete": {"DELETE": _H.h_delete},
    "/v1/chat/completions": {"POST": _H.h_v1_chat},
    "/v1/completions": {"POST": _H.h_v1_completions},
    "/v1/embeddings": {"POST": _H.h_v1_embeddings},
    "/v1/models": {"GET": _H.h_v1_models},
    "/v1/responses": {"POST": _H.h_v1_responses},
    "/v1/messages": {"POST": fake_anthropic.h_messages},
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    # a real server's backlog: with the default 5, a burst of parallel streams loses
    # SYNs while the accept thread waits for the GIL, and connects time out
    request_queue_size = 512

    def handle_error(self, request, client_address):  # quieter than default
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, OSError)):
            return
        super().handle_error(request, client_address)
