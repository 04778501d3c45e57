"""The cluster bench's arithmetic, on the records alone (no processes): percentiles,
each tenant's service in a window, and the gap from a slot freed on the backend to
the next waiting call arriving on it."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


def pct(values: list[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def host_of(tag: str) -> int:
    """The host a call was sent to, from its tag ``tenant/host/n``."""
    return int(tag.split("/")[1])


def tenant_of(tag: str) -> str:
    return tag.split("/")[0]


def served(events: list[list], since: float, until: float) -> dict[str, int]:
    """Calls each tenant began on the backend between two wall-clock times."""
    out: dict[str, int] = {}
    for tag, _arrived, began, _ended in events:
        if since <= began < until:
            out[tenant_of(tag)] = out.get(tenant_of(tag), 0) + 1
    return out


@dataclass
class Gap:
    """A slot freed on the backend (a call's last byte) and the next waiting call
    that arrived on it: seconds between, and the hosts of the two calls."""

    seconds: float
    freed_by: int  # host of the call that ended
    taken_by: int  # host of the call that arrived

    @property
    def cross(self) -> bool:
        return self.freed_by != self.taken_by


def gaps(events: list[list], parallel: int, waited: set[str]) -> list[Gap]:
    """Each arrival of a call that waited in the gateway (``waited``: tags), paired
    with the oldest slot freed and not taken yet.

    The backend has ``parallel`` slots and the gateway sends no more calls than
    that, so a call that waited was sent when a slot came free: the time from that
    slot's last byte to the call's request on the backend is the gateway's whole
    reaction (the relay seeing the end, the slot given back, the waiter woken
    and granted, the request forwarded). Slots are matched in order (the oldest
    freed first), which pairs calls exactly while the backend is saturated.
    """
    timeline = []
    for tag, arrived, _began, ended in events:
        timeline.append((arrived, 1, tag))
        timeline.append((ended, 0, tag))  # at a tie, the end first
    timeline.sort()
    free: deque = deque()  # slots freed and not taken again: (when, tag)
    queued = 0  # arrivals that found every slot taken (the fake queued them)
    never_used = parallel
    out: list[Gap] = []
    for when, kind, tag in timeline:
        if kind == 0:
            if queued:  # the fake's own queue takes this slot at once
                queued -= 1
            else:
                free.append((when, tag))
        elif free:
            freed, by = free.popleft()
            if tag in waited:
                out.append(Gap(when - freed, host_of(by), host_of(tag)))
        elif never_used:
            never_used -= 1
        else:  # the gateway sent more calls than slots: no gap to measure
            queued += 1
    return out


def gap_figures(found: list[Gap]) -> dict[str, dict[str, float]]:
    """p50/p95/p99/max in ms and the count, over all gaps, cross-host ones and
    same-host ones."""
    out = {}
    for name, pick in (
        ("all", found),
        ("cross-host", [g for g in found if g.cross]),
        ("same host", [g for g in found if not g.cross]),
    ):
        ms = [g.seconds * 1000 for g in pick]
        out[name] = {
            "n": len(ms),
            **{f"p{p}": pct(ms, p) for p in (50, 95, 99)},
            "max": max(ms, default=math.nan),
        }
    return out
