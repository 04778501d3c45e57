"""How much may wait in a worker's queue: calls, and the bytes their bodies hold, in
all and per key and user; and who gives up a place when the queue is full.

The rule: a call past its key's or its user's share is refused, and so is one past
the cap (``queue_max``) of any level of its chain: an end user, key, user or team,
its members' waiting calls counted together. When the whole queue
is full (of calls, or of bytes), the newest waiting call of the busiest key gives its
place to the newcomer, if the newcomer's key, even with this call, would hold no more
than the busiest key holds after (by calls: at least two fewer before); else the same
between users. So a key with nothing waiting always finds room, unless every key and
user in the queue has a single call there (or, by bytes, its body is bigger than what
the busiest key's other calls hold). Whoever is refused or gives up a place gets 503
with Retry-After, and nothing of the call reaches a backend. No one gives way to a
call that would itself be the busiest after: two keys cannot take turns evicting.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter

from ..errors import ApiError

MIB = 1024 * 1024
RETRY_AFTER = "5"  # seconds: a place in the queue frees as soon as a call ends
OWNERS = (attrgetter("key"), attrgetter("user"))  # who gives way: a key, then a user


def one(_waiter) -> int:
    return 1


def size(waiter) -> int:
    return waiter.size


def held_bytes(payload, rewritten: bool, body) -> int:
    """What a waiting call's body holds in memory (an estimate): the bytes sent, the
    parsed JSON (about as big again), and the client's own bytes when a stage
    rewrote them. A body streamed from the client (a blob upload) holds none."""
    if not isinstance(body, bytes | bytearray):
        return 0
    return len(body) * (1 + (payload is not None) + bool(rewritten))


def full(reason: str) -> ApiError:
    """The 503 of a call that may not wait."""
    return ApiError(503, f"{reason}; retry shortly", {"Retry-After": RETRY_AFTER})


@dataclass(frozen=True)
class Bounds:
    """The queue's bounds in one worker (bytes as estimated by ``held_bytes``)."""

    calls: int
    calls_per_key: int
    calls_per_user: int
    size: int
    size_per_key: int

    @classmethod
    def from_settings(cls, s) -> Bounds:
        """The bounds the ``QUEUE_MAX*`` settings give."""
        return cls(
            s["QUEUE_MAX"],
            s["QUEUE_MAX_PER_KEY"],
            s["QUEUE_MAX_PER_USER"],
            int(s["QUEUE_MAX_MB"] * MIB),
            int(s["QUEUE_MAX_MB_PER_KEY"] * MIB),
        )

    def admit(self, waiters: Sequence, new) -> list:
        """The waiters that give their place to ``new`` (usually none), or a 503
        when it may not wait. Called with the queue's lock held."""
        mine = [w for w in waiters if w.key == new.key]
        if len(mine) >= self.calls_per_key:
            raise full(f"this key has {len(mine)} calls waiting in the gateway's queue")
        if sum(w.size for w in mine) + new.size > self.size_per_key:
            raise full(
                "this key's waiting calls would hold more than "
                f"{self.size_per_key / MIB:g} MiB in the gateway's queue"
            )
        for ref, cap, phrase in new.caps:  # every level that sets queue_max
            held = sum(1 for w in waiters if ref in w.subjects)
            if held >= cap:
                raise full(
                    f"{phrase} has {held} calls waiting in the gateway's queue "
                    f"(its cap: {cap})"
                )
        users = sum(1 for w in waiters if w.user == new.user)
        if users >= self.calls_per_user:
            raise full(f"this user has {users} calls waiting in the gateway's queue")
        rest, victims = list(waiters), []
        while True:
            if len(rest) >= self.calls:
                measure, what = one, f"{len(rest)} calls waiting"
            elif sum(w.size for w in rest) + new.size > self.size:
                measure, what = size, f"{self.size / MIB:g} MiB of waiting calls"
            else:
                return victims
            victim = give_way(rest, new, measure)
            if victim is None:
                raise full(f"the gateway's queue is full ({what})")
            rest.remove(victim)
            victims.append(victim)


def give_way(rest: Sequence, new, measure: Callable) -> object | None:
    """The newest waiter of the busiest key (then user) by ``measure``, when
    ``new``'s would hold no more than that one's after the swap; else None.
    ``rest`` is in order of arrival."""
    for owner in OWNERS:
        load: Counter = Counter()
        newest: dict = {}
        for w in rest:
            who = owner(w)
            load[who] += measure(w)
            newest[who] = w  # the last seen is the newest
        if not load:
            return None
        top = max(load, key=load.__getitem__)
        victim = newest[top]
        mine = load[owner(new)] + measure(new)
        if top != owner(new) and mine <= load[top] - measure(victim):
            return victim
    return None


def gave_way() -> ApiError:
    """The 503 of a waiting call whose place went to a call of a quieter key."""
    return full(
        "the gateway's queue is full and this key (or user) has the most calls "
        "waiting: its newest gave its place to another's"
    )
