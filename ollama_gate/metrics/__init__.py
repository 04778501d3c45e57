"""Prometheus metrics: the registry (multiprocess under gunicorn), the metrics' stage
of the pipeline, and ``/metrics``."""

from __future__ import annotations

from flask import Flask, Response, request

from ..call import ENVIRON_KEY
from .fleet import QueueObserver, backend_gauges
from .stage import Metrics, count_refused
from .views import bp


def stage(app: Flask) -> Metrics:
    """The metrics' stage for ``app``'s pipeline."""
    return Metrics()


def watch(gate) -> None:
    """Feed the fleet's and the queue's gauges from ``gate``'s health loop and
    scheduler."""
    gate.checker.after_checks.append(backend_gauges(gate.fleet))
    gate.sched.scheduler.queue.observer = QueueObserver()


def init_app(app: Flask) -> None:
    """Register ``/metrics`` and the count of calls refused before they opened."""
    app.register_blueprint(bp)
    app.after_request_funcs.setdefault("proxy", []).append(_count_unopened)


def _count_unopened(response: Response) -> Response:
    """Count an API request refused before a call was opened (401, a disabled key)."""
    # the status first: most answers are not refusals, and ``request`` is a context
    # variable lookup on every call
    if response.status_code >= 400 and request.environ.get(ENVIRON_KEY) is None:
        if request.path.startswith(("/api/", "/v1/")):
            count_refused(request.path, response.status_code)
    return response
