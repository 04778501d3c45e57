"""The traces' settings row: where OpenTelemetry spans go (off when empty)."""

from __future__ import annotations

from urllib.parse import urlsplit

from ..settings import Row

TRACES_PATH = "/v1/traces"  # OTLP/HTTP's path for spans


def parse_endpoint(value: str) -> str:
    """Parse an OTLP/HTTP endpoint: a collector's base URL (``/v1/traces`` is added)
    or its full traces URL; empty means no traces."""
    v = value.strip()
    if not v:
        return ""
    parts = urlsplit(v)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {v!r}")
    path = parts.path.rstrip("/")
    if not path.endswith(TRACES_PATH):
        path += TRACES_PATH
    return parts._replace(path=path).geturl()


ROWS: list[Row] = [
    (
        "OTEL_ENDPOINT",
        parse_endpoint,
        "",
        "OpenTelemetry collector (OTLP/HTTP, e.g. `http://127.0.0.1:4318`) that "
        "receives a span per API call. Empty: no traces, and nothing of OpenTelemetry "
        "is loaded.",
    ),
]
