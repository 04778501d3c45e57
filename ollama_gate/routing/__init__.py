"""Many backends behind one address: the fleet (backends, models, health), aliases,
routes, the choice of backend with failover, and the fleet's merged answers.

``Gate`` makes one ``Fleet`` and ``Checker`` per worker (``fleet_of``); ``stages``
gives the two stages ``proxy.stages.build_stages`` puts on the path.
"""

from __future__ import annotations

from flask import Flask

from ..shared.slots import counted_slots
from .aliases import Aliases
from .fleet import Fleet
from .health import Checker
from .router import Routing


def fleet_of(app: Flask) -> tuple[Fleet, Checker]:
    """A worker's fleet and its health checker (no network call is made here)."""
    fleet = Fleet(app.config["GATE"])
    return fleet, Checker(app, fleet)


def stages(
    app: Flask, fleet: Fleet, checker: Checker, scheduler
) -> tuple[Aliases, Routing]:
    """The alias stage (after limits) and the routing stage (after any answer)."""
    return Aliases(fleet), Routing(
        app, fleet, checker, slots(app, "backend"), scheduler
    )


def slots(app: Flask, name: str):
    """Counted slots shared by every worker (Redis) or of this worker (memory)."""
    return counted_slots(app, name)
