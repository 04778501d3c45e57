"""What ``wsgi.py`` does to the worker process once the app is built."""

from __future__ import annotations

import gc
import http.client
import logging

from flask import Flask

from .. import events
from .handler import GateHandler
from .headers import parse_headers
from .heap import start_trimming
from .limits import ConnectionGuard


def use_fast_header_parsing() -> None:
    """Read header sections, of requests (pywsgi reads them with http.client's
    ``parse_headers``) and of the upstream's answers, without the email parser for
    plain lines (same result; see ``headers.py``). Process-wide, so in the worker
    only, like gevent's patching."""
    http.client.parse_headers = parse_headers


def log_where_gunicorn_logs() -> None:
    """The gateway's own log lines go where gunicorn's go (its error log)."""
    gate_log = logging.getLogger("ollama_gate")
    if not gate_log.handlers:
        gate_log.handlers = list(logging.getLogger("gunicorn.error").handlers)
        gate_log.propagate = False  # a root logger with handlers would print twice


def collect_garbage_less() -> None:
    """Keep what the app built at import out of the collector's scans, and collect
    the youngest objects in small rounds, the older ones rarely.

    A worker relaying thousands of streams allocates fast; the default thresholds
    made it walk every live object many times a second (about 10% of the CPU per
    call, bench/). But a collection holds the worker, and every stream's next token
    with it, while it walks the young objects still alive (each stream's): with
    50,000 of them a round took 36-41 ms in the paced streams, which set their token
    gap p99. 10,000 takes 2-6 ms a round, five times as often. The middle generation
    still comes once a million objects, as it did (it walked 70 ms once every 20
    rounds of 10,000), and the oldest rarer still.
    """
    gc.freeze()
    gc.set_threshold(10_000, 100, 10)


def guard_connections(settings: dict) -> None:
    """The handler's head and body deadlines and cap per client address, from the
    settings (set before the worker accepts its first connection)."""
    GateHandler.head_timeout = settings["HEAD_TIMEOUT"]
    GateHandler.body_timeout = settings["BODY_TIMEOUT"]
    GateHandler.guard = ConnectionGuard(
        settings["MAX_CONNECTIONS_PER_CLIENT"], settings["UNCAPPED_ADDRESSES"]
    )


def tune_worker(app: Flask) -> None:
    """Every process-wide setting of a serving worker (not of tests or the CLI)."""
    guard_connections(app.config["GATE"])
    use_fast_header_parsing()
    log_where_gunicorn_logs()
    start_trimming(app.config["GATE"]["HEAP_TRIM_SECONDS"])  # freed memory back
    collect_garbage_less()
    events.start(app)  # the event writer and webhook sender, one loop per worker
    # health checks and model discovery in the background, one loop per worker
    app.extensions["ollama_gate"].checker.start()
