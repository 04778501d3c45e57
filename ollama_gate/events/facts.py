"""A fact on its way to the event log: what ``emit`` hands the background writer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..models import utcnow


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
