"""The traces' stage: a span per finished call, handed to OpenTelemetry's batch
processor, which exports them over OTLP/HTTP in its own background thread (a
greenlet under gevent).

Built after the call ended, in the recorder's ``record`` step, from the ``Call``
record with its own start and end times: nothing is done on the token path. The
provider is made on the first batch, in the worker that records it (never in a
process that forks afterwards: the batch thread would not survive the fork).
"""

from __future__ import annotations

import logging
import os

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from ..call import Call
from ..pipeline import Stage
from ..turns import in_turns
from .spans import attributes, failure, span_name

log = logging.getLogger("ollama_gate.traces")

SERVICE = "ollama-gate"  # service.name, unless OTEL_SERVICE_NAME says otherwise


def make_tracer(endpoint: str) -> tuple[TracerProvider, Tracer]:
    """A provider exporting to ``endpoint`` in batches (``OTEL_BSP_*`` tune them,
    ``OTEL_EXPORTER_OTLP_HEADERS`` adds a collector's token), and its tracer."""
    given = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": SERVICE}
    provider = TracerProvider(resource=Resource.create(given))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint)))
    return provider, provider.get_tracer("ollama_gate")


def ns(seconds: float) -> int:
    """Seconds since the epoch as OpenTelemetry's nanoseconds."""
    return int(seconds * 1_000_000_000)


class Tracing(Stage):
    """One span per finished call, exported in the background."""

    name = "traces"

    def __init__(self, endpoint: str, fleet) -> None:
        self.endpoint = endpoint
        self.fleet = fleet
        self.provider: TracerProvider | None = None
        self.tracer: Tracer | None = None

    def record(self, calls: list[Call]) -> None:
        """A span for each call of the batch; one that fails is logged and skipped
        (a trace is never worth a retry of the batch)."""
        if self.tracer is None:
            self.provider, self.tracer = make_tracer(self.endpoint)
        for call in in_turns(calls):
            try:
                self.emit(call)
            except Exception:
                log.warning("could not trace the call to %s", call.path, exc_info=True)

    def emit(self, call: Call) -> None:
        """The call's span, with the start and end times of the call itself."""
        start = call.started_at.timestamp()
        end = start + (call.total or 0.0)
        span = self.tracer.start_span(
            span_name(call),
            kind=SpanKind.CLIENT,  # GenAI's convention for a call to a model
            start_time=ns(start),
            attributes=attributes(call, self.backend_url(call.backend)),
        )
        why = failure(call)
        if why is not None:
            span.set_status(Status(StatusCode.ERROR, call.error or why))
        span.end(end_time=ns(end))

    def backend_url(self, backend: str | None) -> str | None:
        """The URL of the backend the call went to (a name, or already a URL)."""
        if not backend:
            return None
        state = self.fleet.get(backend) if self.fleet is not None else None
        if state is not None:
            return state.config.url
        return backend if "://" in backend else None
