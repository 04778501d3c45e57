"""Errors in the shape each API family expects: Ollama's on ``/api``, OpenAI's on
``/v1``, Anthropic's on ``/v1/messages``."""

from __future__ import annotations

import json

from flask import Flask, Request, Response, request
from werkzeug.exceptions import HTTPException

from .server.body import BodyTimeout

OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    429: "rate_limit_error",
}
# Anthropic's error types by status (its API's, as Ollama's ``anthropic.NewError``)
ANTHROPIC_TYPES = {
    **OPENAI_TYPES,
    413: "request_too_large",
    503: "overloaded_error",
    529: "overloaded_error",
}


class ApiError(Exception):
    """An API refusal: answered as JSON with ``status`` and optional extra headers."""

    def __init__(
        self, status: int, message: str, headers: dict[str, str] | None = None
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def is_openai_path(path: str) -> bool:
    """True for the OpenAI-compatible surface."""
    return path == "/v1" or path.startswith("/v1/")


def is_anthropic_path(path: str) -> bool:
    """True for the Anthropic-compatible surface (inside ``/v1``)."""
    return path == "/v1/messages" or path.startswith("/v1/messages/")


def anthropic_error(status: int, message: str) -> dict:
    """Anthropic's error object, which its SDKs turn into typed exceptions."""
    kind = ANTHROPIC_TYPES.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


def error_body(path: str, status: int, message: str) -> bytes:
    """The JSON error body for ``path``'s API family."""
    if is_anthropic_path(path):
        payload = anthropic_error(status, message)
    elif is_openai_path(path):
        payload = {
            "error": {
                "message": message,
                "type": OPENAI_TYPES.get(status, "api_error"),
                "param": None,
                "code": None,
            }
        }
    else:
        payload = {"error": message}
    return json.dumps(payload).encode()


def error_response(
    path: str, status: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    """A complete JSON error response for ``path``'s API family."""
    resp = Response(
        error_body(path, status, message), status=status, mimetype="application/json"
    )
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


def wants_json(req: Request) -> bool:
    """API paths always get JSON errors; admin pages get HTML."""
    prefixes = ("/api/", "/v1/", "/gate/api/")  # /gate/api/: the gateway's own API
    return req.path.startswith(prefixes) or req.path in ("/api", "/v1")


def register_error_handlers(app: Flask) -> None:
    """JSON errors on the API, plain pages elsewhere; never a bare 500 for client
    input."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(request.path, exc.status, exc.message, exc.headers)

    @app.errorhandler(BodyTimeout)
    def _body_timeout(exc: BodyTimeout):
        # what is left of the body cannot be found: the connection ends (the
        # server closes it too)
        if wants_json(request):
            return error_response(
                request.path, 408, exc.description, {"Connection": "close"}
            )
        return Response(
            exc.description,
            status=408,
            mimetype="text/plain",
            headers={"Connection": "close"},
        )

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if wants_json(request):
            resp = error_response(
                request.path, exc.code or 500, exc.description or exc.name
            )
            for name, value in exc.get_headers():
                if name.lower() not in ("content-type", "content-length"):
                    resp.headers[name] = value
            return resp
        return exc

    @app.errorhandler(Exception)
    def _unhandled(exc: Exception):
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        if wants_json(request):
            return error_response(request.path, 500, "internal gateway error")
        return Response("Internal server error", status=500, mimetype="text/plain")
