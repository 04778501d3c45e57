"""Events and webhooks: an event log of what the gateway noticed, sent to webhooks.

For producers (any stage, background job or command)::

    from ollama_gate.events import emit, emit_change

    emit("budget.threshold", "team:3", "Team ml used 80% of its monthly budget.",
         {"team_id": 3, "used": 0.8}, dedupe="budget.threshold|team:3|2026-12|80")

``emit(kind, subject, message, data=None, dedupe=None, app=None)`` is cheap: it
queues the fact for the worker's background writer and returns; it never raises
and never blocks (a full queue or a missing database drops or keeps the event and
logs it). ``app`` defaults to ``current_app``; pass it from a thread without an app
context. ``subject`` names what it is about (``key:12``, ``team:3``,
``backend:gpu1``), ``message`` is one plain line for a person, ``data`` plain JSON.
Every gunicorn worker (and host) sees the same facts, so give the same ``dedupe``
text for the same fact (say the budget, its period and the threshold): one event is
recorded, and sent once. Without ``dedupe`` each call records an event.
``emit_change(kind, subject, message, data, states, first=True)`` records a change
of state (``backend.down`` / ``backend.up``) once per change across workers.

Kinds are listed in ``kinds.KINDS`` (add yours there so webhooks can filter on
it): ``budget.threshold``, ``budget.exhausted``, ``budget.shadow``,
``key.expiring``, ``backend.down``, ``backend.up``, ``queue.wait``, ``test``.

Modules: ``emit`` (``emit`` and the ``Fact`` it queues), ``models`` (events,
hooks, deliveries), ``store`` (writing each fact once), ``worker`` (the background
writer and sender), ``deliver`` (claiming and sending attempts), ``signing``,
``producers``, ``kinds``, ``hooks`` (changes, shared by ``cli`` and ``pages``).
docs/events.md is the operator's side.
"""

from __future__ import annotations

from flask import Flask

from .emit import EXTENSION, emit, emit_change


def init_app(app: Flask) -> None:
    """The app's event writer, its producers and the events page (no thread yet)."""
    from .pages import bp
    from .producers import KEY_SCAN_SECONDS, expiring_keys
    from .retention import PRUNE_SECONDS, retention_job
    from .worker import Events

    events = app.extensions[EXTENSION] = Events(app)
    events.every(KEY_SCAN_SECONDS, expiring_keys)
    events.every(PRUNE_SECONDS, retention_job)
    app.register_blueprint(bp)


def start(app: Flask) -> None:
    """Run the writer and sender in this worker from now on, and tell each backend's
    change its health loop sees (a serving worker: not a command's passing look)."""
    from .producers import BackendWatch

    events = app.extensions.get(EXTENSION)
    gate = app.extensions.get("ollama_gate")
    if events is None:
        return
    if gate is not None and not any(
        isinstance(hook, BackendWatch) for hook in gate.checker.after_checks
    ):
        gate.checker.after_checks.append(BackendWatch(app, gate.fleet))
    events.start()


__all__ = ["emit", "emit_change", "init_app", "start"]
