"""The request id: the client's ``X-Request-ID`` when it looks sane, else a new one."""

from __future__ import annotations

import re
import uuid

ENVIRON_KEY = "ollama_gate.request_id"
HEADER = "X-Request-ID"
# what a proxy or client usually sends (uuids, hex, ``abc-123.x``); anything else,
# e.g. spaces or newlines meant for a log, is replaced
SANE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def request_id(environ: dict) -> str:
    """The request's id, taken or made once and kept in its WSGI environ."""
    rid = environ.get(ENVIRON_KEY)
    if rid is None:
        given = environ.get("HTTP_X_REQUEST_ID", "")
        rid = given if SANE.fullmatch(given) else uuid.uuid4().hex
        environ[ENVIRON_KEY] = rid
    return rid
