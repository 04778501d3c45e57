"""At a worker's start: log each configured backend and whether it answers, so a
wrong ``OLLAMA_GATE_BACKENDS`` shows in the log at once (not in the factory, which
makes no network calls)."""

from __future__ import annotations

import logging
import threading

from flask import Flask

from ..upstream import Upstream
from ..upstream.probe import probe

log = logging.getLogger("ollama_gate.ops")


def backend_entries(entries: list[str]) -> list[tuple[str, str]]:
    """(name, url) for each ``url`` or ``name=url`` entry (the url names itself)."""
    out = []
    for entry in entries:
        if "=" in entry.split("://", 1)[0]:
            name, url = entry.split("=", 1)
        else:
            name, url = entry, entry
        out.append((name.strip(), url.strip().rstrip("/")))
    return out


def check_backends(app: Flask) -> None:
    """Probe every configured backend and log what answered."""
    s = app.config["GATE"]
    for name, url in backend_entries(s["BACKENDS"]):
        upstream = Upstream(url, s["PROBE_TIMEOUT"], s["PROBE_TIMEOUT"], 1)
        if probe(upstream, s["PROBE_TIMEOUT"]):
            log.info("backend %s (%s) answers", name, url)
        else:
            log.warning(
                "backend %s (%s) does not answer GET /api/version: check "
                "OLLAMA_GATE_BACKENDS and that Ollama runs there",
                name,
                url,
            )
        upstream.pool.close()


def announce_backends(app: Flask) -> None:
    """Check the backends in the background: the worker serves meanwhile."""
    threading.Thread(
        target=check_backends, args=(app,), name="ollama-gate-backends", daemon=True
    ).start()
