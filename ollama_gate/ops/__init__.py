"""Operations: health and readiness, request ids, the call log, the start-up check.

``init_app`` registers ``/healthz`` and ``/readyz`` and the proxy's request-id hook;
``stage`` is the call log's stage of the pipeline.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request

from ..call import ENVIRON_KEY
from ..remote import client_of
from .calllog import CallLog, write
from .ready import Readiness
from .requestid import HEADER, request_id
from .views import bp

API_PREFIXES = ("/api/", "/v1/")


def stage(app: Flask) -> CallLog:
    """The call log's stage for ``app``'s pipeline."""
    return CallLog(app.config["GATE"]["CALL_LOG"])


def init_app(app: Flask) -> None:
    """Register the health pages, the readiness checks and the request-id hook."""
    app.extensions["ollama_gate_ready"] = Readiness(app)
    app.register_blueprint(bp)
    # on the proxy blueprint only: the app-wide hooks are kept off API calls
    app.after_request_funcs.setdefault("proxy", []).append(_request_id_hook)


def _request_id_hook(response: Response) -> Response:
    """Return the request id; log the API calls refused before a call was opened
    (no key, a bad or disabled key), which the pipeline never sees."""
    environ = request.environ
    call = environ.get(ENVIRON_KEY)
    rid = call.request_id if call is not None else request_id(environ)
    response.headers[HEADER] = rid
    if "Origin" in request.headers:  # a browser may read it where CORS lets it in
        response.headers.add("Access-Control-Expose-Headers", HEADER)
    if call is None and response.status_code >= 400:
        if request.path.startswith(API_PREFIXES):
            fields = {
                "id": rid,
                "method": request.method,
                "endpoint": request.path,
                "status": response.status_code,
                "client": client_of(environ).address,
            }
            write(fields, current_app.config["GATE"]["CALL_LOG"])
    return response
