"""CORS at the gateway: calls from a disallowed origin refused (403, as Ollama does),
preflight answered here, approved origins never forwarded upstream."""

from __future__ import annotations

from fnmatch import fnmatchcase

from flask import Request, Response

from ..errors import error_response

ALLOW_HEADERS = (
    "Authorization, Content-Type, User-Agent, Accept, X-Requested-With, X-API-Key, "
    "apikey, "
    "anthropic-version, anthropic-beta, anthropic-dangerous-direct-browser-access, "
    "OpenAI-Beta, x-stainless-arch, x-stainless-lang, x-stainless-os, "
    "x-stainless-package-version, x-stainless-runtime, x-stainless-runtime-version, "
    "x-stainless-async, x-stainless-retry-count, x-stainless-read-timeout, "
    "x-stainless-timeout"
)
ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, HEAD"


class Cors:
    """Origin checks against the configured shell-style patterns."""

    def __init__(self, patterns: list[str]):
        self.patterns = [p.lower() for p in patterns]

    def allowed(self, origin: str) -> bool:
        """True if a browser page at ``origin`` may call the API."""
        origin = origin.lower()
        return any(p == "*" or fnmatchcase(origin, p) for p in self.patterns)

    def permits(self, request: Request) -> bool:
        """True unless a browser page at a disallowed origin sent the request; the
        gateway's own origin is not cross-origin (gin's CORS, Ollama's, does so)."""
        origin = request.headers.get("Origin")
        if not origin or self.allowed(origin):
            return True
        host = request.headers.get("Host", "")
        return origin in (f"http://{host}", f"https://{host}")

    def preflight(self, request: Request) -> Response:
        """Answer an ``OPTIONS`` preflight (204), or 403 for an origin not allowed."""
        origin = request.headers.get("Origin", "")
        if not self.allowed(origin):
            return error_response(request.path, 403, "origin not allowed")
        resp = Response(status=204)
        resp.headers["Access-Control-Allow-Methods"] = ALLOW_METHODS
        resp.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
        resp.headers["Access-Control-Max-Age"] = "43200"
        return resp

    def decorate(self, request: Request, response: Response) -> Response:
        """Add the allow-origin header to API answers for approved origins."""
        origin = request.headers.get("Origin")
        if origin and self.allowed(origin):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers.add("Vary", "Origin")
        return response
