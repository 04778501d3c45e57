"""The budgets' events: a seam to ``ollama_gate.events.emit`` when that module is
there, else a log line.

Kinds: ``budget.threshold`` (a budget's warning share used), ``budget.exhausted``
(a budget used up), ``budget.shadow`` (a call past a budget in shadow mode let
through). Each carries a dedupe string such as ``budget.threshold:team:3:w2026-50``:
one event per subject, budget and period. A worker also keeps the strings it sent
lately, so a shadow budget passed by every call sends its event once, not per call.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections import OrderedDict
from typing import Any

log = logging.getLogger("ollama_gate.limits.budgets")
SENT_KEPT = 4096  # dedupe strings a worker remembers (old periods fall out first)
_sent: OrderedDict[str, None] = OrderedDict()
_lock = threading.Lock()


def emitter():
    """``ollama_gate.events.emit`` if the events module exists, else None."""
    try:
        module = importlib.import_module("ollama_gate.events")
    except ImportError:
        return None
    return getattr(module, "emit", None)


def dedupe_key(kind: str, subject: Any, period: str) -> str:
    """``budget.threshold:team:3:w2026-50``: the kind, the subject, the period."""
    name = period.partition("@")[0].replace(":", "")
    return f"{kind}:{subject.kind}:{subject.id}:{name}"


def notify(
    kind: str, subject: Any, message: str, data: dict[str, Any], period: str
) -> bool:
    """Raise a budget event once per (kind, subject, period) in this worker; False
    if it was raised already. A failing emitter never fails the call or record."""
    dedupe = dedupe_key(kind, subject, period)
    with _lock:
        if dedupe in _sent:
            return False
        _sent[dedupe] = None
        while len(_sent) > SENT_KEPT:
            _sent.popitem(last=False)
    emit = emitter()
    if emit is None:
        log.warning("%s: %s", kind, message)
        return True
    try:
        # the event log names a subject as text ("team:3"); its name goes in data
        data = {**data, "subject_name": subject.name}
        emit(kind, f"{subject.kind}:{subject.id}", message, data, dedupe=dedupe)
    except Exception:
        log.exception("budget event %s could not be raised", kind)
    return True
