"""The fleet's and the scheduler's gauges, fed as they change (not at scrape time,
which would only ever see the one worker that answers the scrape)."""

from __future__ import annotations

from .labels import model_name
from .registry import BACKEND_UP, QUEUE_HANDOFF, QUEUE_WAIT, QUEUE_WAITING


class QueueObserver:
    """Told by the scheduler's queue of every call that starts and stops waiting."""

    def waiting(self, model: str, delta: int) -> None:
        """A call of ``model`` joined (+1) or left (-1) the queue."""
        QUEUE_WAITING.labels(model_name(model)).inc(delta)

    def waited(self, seconds: float) -> None:
        """A call got its slot after waiting ``seconds``."""
        QUEUE_WAIT.observe(seconds)

    def handoff(self, seconds: float, same: bool) -> None:
        """A waiting call took a slot freed ``seconds`` before (Redis' clock), by
        this worker (``same``) or another."""
        QUEUE_HANDOFF.labels("same" if same else "other").observe(seconds)


def backend_gauges(fleet):
    """A hook for the health loop: each backend's state after a round of checks."""

    def update() -> None:
        for b in fleet.backends():
            BACKEND_UP.labels(b.name).set(1 if b.config.enabled and b.healthy else 0)

    return update
