"""The end users' steps on the path of an app key's calls.

``EndUsers.admit`` (before the limits) reads who the call is for, puts their level
in front of the call's chain and names the conversation and any background task;
``Admitted.admit`` (right after the limits) marks the inference calls the limits let
through, whose calls and tokens ``EndUsers.record`` adds to the person's usage rows
(the durable copy their quota counters are seeded from) with their last sight.
"""

from __future__ import annotations

import logging

from flask import Flask
from sqlalchemy import bindparam, func, update
from sqlalchemy.exc import SQLAlchemyError

from ..call import Call
from ..errors import ApiError
from ..extensions import db
from ..limits.periods import periods_at
from ..limits.quotas import INFERENCE
from ..limits.usage import add_counts
from ..pipeline import Stage
from ..subjects import prepend_level
from .background import task_of
from .directory import Directory
from .headers import chat_of, person_of
from .models import EndUser, EndUserUsage

log = logging.getLogger("ollama_gate.endusers")
ADMITTED = "endusers.admitted"  # call.extra: an inference call the limits let in


class EndUsers(Stage):
    """Who an app key's call is for (see the module's docstring)."""

    name = "endusers"

    def __init__(self, app: Flask):
        self.directory = Directory(app.config["GATE"]["KEY_CACHE_SECONDS"])
        self.admitted = Admitted()
        self.zone = app.config["GATE"].get("TIMEZONE") or "UTC"

    def admit(self, call: Call) -> None:
        """Name the person, conversation and task of an app key's call."""
        ident = call.identity
        if not ident.app:
            return  # another key's headers say nothing: it is not trusted to
        headers = call.request_headers
        call.conversation = chat_of(headers)
        call.task = task_of(call.payload)
        person = person_of(headers)
        if person is None:
            return
        try:
            known = self.directory.known(ident.limits_id, ident.user_id, person)
        except SQLAlchemyError as exc:
            log.error("end user lookup failed: %s", exc)
            raise ApiError(
                503,
                "the gateway's user store is unavailable; try again",
                {"Retry-After": "5"},
            ) from None
        call.end_user = known
        prepend_level(call, known.level)

    def record(self, calls: list[Call]) -> None:
        """Each person's last sight and their admitted calls' usage, per batch."""
        seen: dict[int, dict] = {}
        usage: dict[tuple[int, str], list[int]] = {}
        for call in calls:
            person = call.end_user
            if person is None:
                continue
            last = seen.get(person.id)
            if last is None or last["when"] <= call.started_at:
                said = person.person
                seen[person.id] = {
                    "pid": person.id,
                    "when": call.started_at,
                    "said_name": said.name,
                    "said_email": said.email,
                    "said_role": said.role,
                }
            if call.extra.get(ADMITTED):
                tokens = int(call.stats.get("total_tokens") or 0)
                tokens = tokens if call.charge_tokens else 0
                # the day, week and month the quotas counted it in (their zone's):
                # these rows seed the person's counters, so they must be named alike
                periods = call.periods or periods_at(call.started_at, self.zone)
                for period in periods.values():
                    entry = usage.setdefault((person.id, period), [0, 0])
                    entry[0] += 1
                    entry[1] += tokens
        if seen:
            db.session.execute(TOUCH, list(seen.values()))
            db.session.commit()
        if usage:
            add_usage(usage)


class Admitted(Stage):
    """Right after the limits: the inference calls they admitted (and counted)."""

    name = "endusers-admitted"

    def admit(self, call: Call) -> None:
        """Mark an admitted inference call of a person."""
        if call.end_user is not None and call.endpoint.rstrip("/") in INFERENCE:
            call.extra[ADMITTED] = True


def _said(column: str):
    """The header's value of ``column`` when it gave one, else the stored one."""
    said = func.nullif(bindparam(f"said_{column}"), "")
    return func.coalesce(said, EndUser.__table__.c[column])


# a person's last sight, and their display as the app names them now (one executemany)
TOUCH = (
    update(EndUser.__table__)
    .where(EndUser.__table__.c.id == bindparam("pid"))
    .values(
        last_seen=bindparam("when"),
        name=_said("name"),
        email=_said("email"),
        role=_said("role"),
    )
)


def add_usage(totals: dict[tuple[int, str], list[int]]) -> None:
    """Add (calls, tokens) per (end user, period); rows made as needed."""
    table = EndUserUsage.__table__
    add_counts(table, table.c.end_user_id, totals)
