"""OpenTelemetry traces: a span per API call with the GenAI semantic conventions.

Opt-in: with ``OLLAMA_GATE_OTEL_ENDPOINT`` empty no stage is built and nothing of
OpenTelemetry is imported (its SDK costs start-up time and memory in every worker).
"""

from __future__ import annotations

from flask import Flask

from ..pipeline import Stage


def stages(app: Flask, fleet) -> list[Stage]:
    """The traces' stage for ``app``'s pipeline, or none when traces are off."""
    endpoint = app.config["GATE"]["OTEL_ENDPOINT"]
    if not endpoint:
        return []
    from .export import Tracing  # only now: the SDK loads when traces are on

    return [Tracing(endpoint, fleet)]
