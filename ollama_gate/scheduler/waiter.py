"""A call waiting in the gateway's queue (``queue.FairQueue`` in one worker, or
``cluster.ClusterQueue`` across every worker with Redis), and the error of one whose
client left."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from ..errors import ApiError


class ClientGone(ApiError):
    """The client hung up while its call waited: it leaves the queue, and its record
    says so (499, nginx's "client closed request") instead of an unhandled error."""

    def __init__(self) -> None:
        super().__init__(499, "the client left while its call waited in the queue")


@dataclass(eq=False)
class Waiter:
    """One waiting call."""

    owner: object  # whose share it counts against (its key's or user's: FAIR_BY)
    group: str  # the model it waits for: only waiters of one model compete
    weight: int = 1
    key: object = None  # the bounds count per key and per user, whatever FAIR_BY
    user: object = None
    size: int = 0  # bytes its body holds while it waits (``bounds.held_bytes``)
    refused: ApiError | None = None  # it gave its place up to another's call
    start: float = 0.0  # its virtual start: the fair order among owners
    since: float = field(default_factory=time.monotonic)
    order: int = 0
    id: str = ""  # its name in Redis (the cluster queue)
    lost: bool = False  # its place in Redis' line is gone (its worker seemed dead)
    wake: threading.Event = field(default_factory=threading.Event)
    rooms: tuple = ()  # its backends, when each holds few models (the swap order)
    band: int = 0  # its priority band (``bands``): 0 interactive, 1 batch
    subjects: frozenset = frozenset()  # its chain's subjects' refs (the caps count)
    caps: tuple = ()  # (ref, most waiting, phrase) of the levels that set queue_max


def summary_of(bands: Counter) -> dict:
    """A queue as ``/api/ps`` shows it, from its waiting calls per (model, band):
    calls waiting in all, and per model and band. One worker's queue and the
    cluster's line read alike."""
    models: dict[str, dict[str, int]] = {}
    for (group, band), n in sorted(bands.items()):
        row = models.setdefault(group, {"interactive": 0, "batch": 0})
        row["batch" if band else "interactive"] += n
    return {
        "waiting": sum(bands.values()),
        "models": [{"model": m, **row} for m, row in models.items()],
    }
