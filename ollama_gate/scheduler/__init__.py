"""The scheduler: each backend's real capacity (slots per model), a fair queue across
keys when every slot is taken, conversation affinity for Ollama's prompt cache, and
per-model policy (``num_ctx``, ``keep_alive``, warm copies). With Redis the queue is
the whole gateway's (``cluster.ClusterQueue``), else each worker's (``FairQueue``).

``make`` builds a worker's parts (no network call); the routing stage asks the
``Scheduler`` for slots, ``ModelPolicyStage`` sits before it on the path, and the
health loop reloads the policies and runs the ``Warmer``.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask

from ..shared.redis_pool import redis_client, redis_errors
from ..shared.slots import counted_slots
from .affinity import MemoryAffinity, RedisAffinity
from .bounds import Bounds
from .cluster import ClusterQueue
from .cluster_rooms import SharedRooms
from .core import Scheduler
from .policy import ModelPolicyStage, Policies
from .queue import FairQueue
from .rooms import Rooms
from .warm import Warmer


@dataclass
class Parts:
    """A worker's scheduler, policies, policy stage and warmer."""

    scheduler: Scheduler
    policies: Policies
    stage: ModelPolicyStage
    warmer: Warmer


def make(app: Flask, fleet) -> Parts:
    """The scheduler's parts for ``app``'s worker, sharing Redis when configured."""
    s = app.config["GATE"]
    client = redis_client(app) if s["REDIS_URL"] else None
    prefix = s["REDIS_PREFIX"]
    slots = counted_slots(app, "model")
    ttl = s["AFFINITY_SECONDS"]
    affinity = None
    if ttl > 0:
        affinity = RedisAffinity(client, prefix, ttl) if client else MemoryAffinity(ttl)
    rooms = SharedRooms() if client is not None else Rooms()
    if client is not None:  # one queue (and rooms) for every worker of every host
        queue = ClusterQueue(
            client,
            prefix,
            Bounds.from_settings(s),
            s["QUEUE_TIMEOUT"],
            batch_max_wait=s["BATCH_MAX_WAIT"],
            errors=redis_errors(app),
            beats=True,
            rooms=rooms,
            max_pass=s["SWAP_MAX_PASS"],
            headroom=s["QUEUE_HEADROOM"],
        )
    else:
        queue = FairQueue(
            Bounds.from_settings(s),
            s["QUEUE_TIMEOUT"],
            None,
            rooms.fits,
            s["SWAP_MAX_PASS"],
            s["BATCH_MAX_WAIT"],
            s["QUEUE_HEADROOM"],
        )
    policies = Policies()

    def claim(key: str, ttl: float) -> bool:
        return bool(client.set(f"{prefix}:{key}", 1, nx=True, ex=max(1, int(ttl))))

    warmer = Warmer(fleet, policies, s["HEALTH_INTERVAL"], claim if client else None)
    return Parts(
        Scheduler(slots, queue, affinity, s["FAIR_BY"], rooms),
        policies,
        ModelPolicyStage(policies),
        warmer,
    )
