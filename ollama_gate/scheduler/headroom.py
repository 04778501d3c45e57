"""The queue's headroom (``QUEUE_HEADROOM``): the last N slots of each backend's
model are kept for callers with no call running.

Beside a flood every slot is busy, so even a perfectly fair queue makes a newcomer
wait for the next slot to free, while alone it waits for nothing. With a headroom
the flood never holds the last N slots: an owner (key or user, ``FAIR_BY``) that
runs a call already may take a slot only while more than N stay free; an owner with
nothing running may take any free slot. The price: the flood gets N slots fewer
even while it is alone (the gateway is not work-conserving for it), hence off by
default. A backend always keeps one slot anyone may take (``--parallel 1`` has no
headroom; with N >= parallel, a busy owner still gets one).

``FairQueue`` applies ``cap`` in this worker; the cluster queue's take script
(``cluster_take_lua.TAKE``) does the same sum in Redis, on the cluster's running counts.
"""

from __future__ import annotations


def cap(limit: int, headroom: int, running: int) -> int:
    """The slots of ``limit`` an owner with ``running`` calls running may fill."""
    if headroom <= 0 or running <= 0:
        return limit
    return max(1, limit - headroom)
