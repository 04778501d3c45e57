"""Subjects a call answers to, and its chain of them (most specific first).

A ``Subject`` is an end user (behind a shared app), a key, a user or a team. A
``Level`` is a subject with a snapshot of its settings (``subject_settings.TABLE``,
each as the row's ``snap`` makes it; None: the level does not set it). A key's
``Identity`` carries the chain key -> user -> team (``Identity.levels``); a call's
chain is ``levels_of(call)``, which a stage may lengthen at the front with
``prepend_level`` (an end user of a shared app). Each limit applies at every level
that sets one, the strictest wins; the queue weight and history mode come from the
most specific level that sets them (``nearest``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .subject_row import KINDS
from .subject_settings import rows_for

__all__ = [
    "KINDS",
    "Level",
    "chain_value",
    "Subject",
    "level_for",
    "levels_of",
    "nearest",
    "prepend_level",
    "setting_levels",
]


@dataclass(frozen=True, slots=True)
class Subject:
    """Who a level is: ``kind`` (end_user, key, user, team), ``id`` and a name.

    A key's id is its ``limits_id`` (the first key of its rotations), so every
    secret of a key counts on the same counters, named as before subjects were.
    """

    kind: str
    id: int | str
    name: str
    # The stable name its counters are kept under (rates, quotas, slots): a key's is
    # its id alone, today's counter names (upgrading resets nothing). Made once with
    # the subject (a key's lives in the key cache): every call read it a dozen times.
    ref: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ref = str(self.id) if self.kind == "key" else f"{self.kind}:{self.id}"
        object.__setattr__(self, "ref", ref)  # frozen: set once, here

    @property
    def phrase(self) -> str:
        """How a refusal names it: ``this API key``, ``team 'ml'``."""
        if self.kind == "key":
            return "this API key"
        return f"{self.kind.replace('_', ' ')} '{self.name}'"


@dataclass(frozen=True, slots=True)
class Level:
    """One subject of a call's chain and its settings snapshot."""

    subject: Subject
    settings: Mapping[str, Any]

    def get(self, name: str) -> Any:
        """The level's value of setting ``name``; None: it sets none."""
        return self.settings.get(name)


def level_for(kind: str, id: int | str, name: str, row: Any) -> Level:
    """Snapshot ``row`` (an ApiKey, User or Team, or any object with the columns)
    as a level of ``kind``."""
    settings = {}
    for setting in rows_for(kind):
        value = getattr(row, setting.name, None)
        settings[setting.name] = None if value is None else setting.snap(value)
    return Level(Subject(kind, id, name), settings)


def levels_of(call: Any) -> tuple[Level, ...]:
    """The call's chain, most specific first: its own (an end user's prepended),
    else its identity's (an identity made without one: its key's level alone)."""
    return (
        getattr(call, "levels", None)
        or call.identity.levels
        or (own_level(call.identity),)
    )


def chain_value(call: Any, name: str, default: Any = None) -> Any:
    """The most specific level's ``name`` for a call: from its own chain when a
    stage lengthened it, else its identity's (resolved over key, user, team)."""
    levels = getattr(call, "levels", ())
    if levels:
        return nearest(levels, name, default)
    value = getattr(call.identity, name, None)
    return default if value is None else value


def own_level(identity: Any) -> Level:
    """The key's level from an identity's own fields (one made without a chain)."""
    settings = {
        "history_mode": identity.history_mode,
        "rate_limit": identity.rate_limit,
        "calls_per_day": identity.calls_per_day,
        "tokens_per_day": identity.tokens_per_day,
        "calls_per_month": identity.calls_per_month,
        "tokens_per_month": identity.tokens_per_month,
        "model_allowlist": identity.model_patterns or None,
        "scopes": identity.scopes,
        "max_concurrency": identity.max_concurrency,
        "queue_weight": identity.queue_weight,
    }
    for row in rows_for("key"):  # the rows an identity holds no field of: unset
        settings.setdefault(row.name, getattr(identity, row.name, None))
    return Level(Subject("key", identity.limits_id, identity.key_prefix), settings)


def prepend_level(call: Any, level: Level) -> None:
    """Put ``level`` in front of the call's chain (e.g. an end user of a shared
    app): every limit it sets applies too, its weight and history mode first."""
    call.levels = (level, *levels_of(call))


def setting_levels(levels: tuple[Level, ...], name: str) -> Iterator[Level]:
    """The levels that set ``name``, most specific first."""
    return (level for level in levels if level.get(name) is not None)


def nearest(levels: tuple[Level, ...], name: str, default: Any = None) -> Any:
    """The most specific level's value of ``name``, else ``default``."""
    return next((lv.get(name) for lv in setting_levels(levels, name)), default)
