"""The whole path of an API call, in order, in one place; and the gateway's own stages.

Reading ``build_stages`` answers the policy questions: the summary is read before
anything records (quotas and history need its tokens); limits refuse before any
answer or upstream; aliases are judged by the allowlist as the names clients use;
routing comes after every stage that could answer without a backend.
"""

from __future__ import annotations

import logging

from flask import Flask
from sqlalchemy import bindparam, update

from .. import cache, endusers, history, limits, metrics, ops, routing, traces
from ..call import Call
from ..extensions import db
from ..models import ApiKey
from ..pipeline import Stage
from ..routing.loads import Loads
from ..turns import in_turns
from .summary import summarise

log = logging.getLogger("ollama_gate.proxy")


def build_stages(app: Flask, gate) -> list[Stage]:
    """Every stage of the path, in order (the order of each step)."""
    sched = gate.sched
    aliases, route = routing.stages(app, gate.fleet, gate.checker, sched.scheduler)
    people = endusers.stage(app)
    return [
        Summary(),
        TouchKeys(),
        people,  # an app key's person: their level first in the chain the limits read
        limits.stage(app),  # access, concurrency, rate limits, quotas
        people.admitted,  # the person's inference calls the limits let through
        aliases,  # after limits: an allowlist judges the names clients use
        sched.stage,  # the real model's num_ctx and keep_alive policy
        cache.stage(app),  # a hit answers here: the call as it would go upstream
        route,  # merged lists (answer); backend, slot or queue, affinity (route)
        Loads(gate.fleet),  # cold calls: /api/ps read again, their load timed
        metrics.stage(app),  # in flight once admitted; counts after the summary
        ops.stage(app),  # the call log: one line per call
        *traces.stages(app, gate.fleet),  # a span per call, when traces are on
        history.stage(app),
    ]


class Summary(Stage):
    """Read each answer's text and statistics once, for every recorder after it."""

    name = "summary"

    def record(self, calls: list[Call]) -> None:
        """Summarise a batch; an answer of odd shape does not stop the others."""
        for call in in_turns(calls):
            try:
                summarise(call)
            except Exception:
                log.warning(
                    "could not summarise the answer of %s", call.path, exc_info=True
                )


class TouchKeys(Stage):
    """Keep each key's ``last_used_at``, once per batch."""

    name = "touch-keys"

    def record(self, calls: list[Call]) -> None:
        """Update every used key in one statement."""
        last: dict[int, object] = {}
        for call in calls:
            last[call.identity.key_id] = call.started_at
        if not last:
            return
        table = ApiKey.__table__  # Core executemany: one statement for the batch
        db.session.execute(
            update(table)
            .where(table.c.id == bindparam("key_id"))
            .values(last_used_at=bindparam("when")),
            [{"key_id": key_id, "when": when} for key_id, when in last.items()],
        )
        db.session.commit()
