"""The metrics' stage: in flight from admit to release, the rest counted in record.

Nothing is counted per streamed chunk; every figure comes from the finished call.
"""

from __future__ import annotations

from ..call import Call
from ..pipeline import Stage
from ..turns import in_turns
from . import labels
from .registry import (
    CALLS,
    DURATION,
    IN_FLIGHT,
    REFUSALS,
    TOKENS,
    TTFB,
    UPSTREAM_ERRORS,
)

COUNTED = "metrics.in_flight"  # in call.extra: this call raised the gauge


class Metrics(Stage):
    """Calls in flight, and per finished call its counts, times and tokens."""

    name = "metrics"

    def admit(self, call: Call) -> None:
        """An admitted call is in flight (stages before this one may refuse it)."""
        IN_FLIGHT.inc()
        call.extra[COUNTED] = True

    def release(self, call: Call) -> None:
        """The call is over: down again, on every path that raised it."""
        if call.extra.pop(COUNTED, False):
            IN_FLIGHT.dec()

    def record(self, calls: list[Call]) -> None:
        """Count each finished call (after the summary has read its tokens)."""
        for call in in_turns(calls):
            count(call)


def count(call: Call) -> None:
    """Every counter and histogram for one finished call."""
    endpoint = labels.endpoint(call.endpoint)
    backend = call.backend or ""
    status = labels.status(call)
    model = labels.model(call)
    CALLS.labels(endpoint, model, status, backend, labels.cache(call)).inc()
    if call.backend is None:  # no backend asked: the gateway's own answer
        if call.status is not None and 400 <= call.status < 500:
            REFUSALS.labels(endpoint, status).inc()
    elif call.status is None or call.status >= 500:
        UPSTREAM_ERRORS.labels(backend, status).inc()
    elif call.error:  # broken after the first byte, the status long sent
        UPSTREAM_ERRORS.labels(backend, "stream").inc()
    if call.ttfb is not None:
        TTFB.labels(endpoint).observe(call.ttfb)
    if call.total is not None:
        DURATION.labels(endpoint).observe(call.total)
    stats = call.stats
    if stats.get("prompt_tokens"):
        TOKENS.labels("in", model, backend).inc(stats["prompt_tokens"])
    if stats.get("completion_tokens"):
        TOKENS.labels("out", model, backend).inc(stats["completion_tokens"])


def count_refused(path: str, status: int) -> None:
    """An API request refused before a call was opened (no key, a bad key)."""
    endpoint = labels.endpoint(path)
    CALLS.labels(endpoint, "", str(status), "", "").inc()
    REFUSALS.labels(endpoint, str(status)).inc()
