"""The operations settings rows: readiness, the call log, request ids."""

from __future__ import annotations

from ..settings import Row


def parse_call_log(value: str) -> str:
    """Parse the call log's format: ``plain``, ``json`` or ``off``."""
    v = value.strip().lower()
    if v not in ("plain", "json", "off"):
        raise ValueError(f"not a call log format (plain, json, off): {value!r}")
    return v


ROWS: list[Row] = [
    (
        "CALL_LOG",
        parse_call_log,
        "plain",
        "One log line per API call (request id, key prefix, model, backend, status, "
        "tokens, times; never a key or a prompt): `plain`, `json` or `off`.",
    ),
    (
        "READY_CACHE_SECONDS",
        float,
        "2",
        "Seconds `/readyz` reuses its database and backend check.",
    ),
]
