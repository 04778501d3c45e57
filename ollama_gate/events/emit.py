"""``emit``: record an event from anywhere (a pipeline stage, a background job),
cheaply, in the background; it never raises and never blocks."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Flask, current_app, has_app_context

from ..models import utcnow

log = logging.getLogger("ollama_gate.events")

EXTENSION = "ollama_gate_events"  # app.extensions: the app's ``worker.Events``


@dataclass
class Fact:
    """One event to record, as its producer said it."""

    kind: str
    subject: str
    message: str
    data: dict[str, Any] | None = None
    # the same text from several workers or hosts makes one event; None: unique
    dedupe: str | None = None
    # a change of state: recorded only when the subject's last event among these
    # kinds is another (so every worker seeing one backend go down makes one event)
    states: tuple[str, ...] = ()
    first: bool = True  # a change with no earlier state event is recorded
    at: datetime = field(default_factory=utcnow)


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
    _put(lambda: Fact(kind, subject, message, _copy(data), dedupe), app)


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
    _put(
        lambda: Fact(kind, subject, message, _copy(data), states=states, first=first),
        app,
    )


def _copy(data) -> dict[str, Any] | None:
    """The caller's data as it is now (it may change it after)."""
    return dict(data) if isinstance(data, dict) else data


def _put(make: Callable[[], Fact], app: Flask | None) -> None:
    """Hand the fact ``make`` builds to the app's background writer; any failure is
    logged only."""
    kind = "?"
    try:
        fact = make()
        kind = fact.kind
        if app is None and has_app_context():
            app = current_app._get_current_object()
        events = app.extensions.get(EXTENSION) if app is not None else None
        if events is None:  # no app, or one without events (a bare test app)
            log.debug("event %s not recorded: no app with events", fact.kind)
            return
        events.put(fact)
    except Exception:  # an event is never worth a failed call
        log.exception("event %s not recorded", kind)
