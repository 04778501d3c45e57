"""``emit``: record an event from anywhere (a pipeline stage, a background job),
cheaply, in the background; it never raises and never blocks."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, current_app, has_app_context

from .facts import Fact

log = logging.getLogger("ollama_gate.events")

EXTENSION = "ollama_gate_events"  # app.extensions: the app's ``worker.Events``


def emit(
    kind: str,
    subject: str,
    message: str,
    data: dict[str, Any] | None = None,
    dedupe: str | None = None,
    app: Flask | None = None,
) -> None:
    """Record an event off the caller's path; the same ``dedupe`` text from any
    worker or host makes one event."""
    _put(Fact(kind, subject, message, dict(data or {}), dedupe), app)


def emit_change(
    kind: str,
    subject: str,
    message: str,
    data: dict[str, Any] | None = None,
    states: tuple[str, ...] = (),
    first: bool = True,
    app: Flask | None = None,
) -> None:
    """Record a change of ``subject``'s state (``kind``, one of ``states``): one
    event per change, whichever workers saw it; ``first``: also when the log has no
    earlier state of the subject."""
    fact = Fact(kind, subject, message, dict(data or {}), states=states, first=first)
    _put(fact, app)


def _put(fact: Fact, app: Flask | None) -> None:
    """Hand ``fact`` to the app's background writer; any failure is logged only."""
    try:
        if app is None and has_app_context():
            app = current_app._get_current_object()
        events = app.extensions.get(EXTENSION) if app is not None else None
        if events is None:  # no app, or one without events (a bare test app)
            log.debug("event %s not recorded: no app with events", fact.kind)
            return
        events.put(fact)
    except Exception:  # an event is never worth a failed call
        log.exception("event %s not recorded", fact.kind)
