"""Concurrency caps: at most N calls of a key (or its user, or team) in flight.

A slot is taken at admission and given back by a release hook the moment the call ends
(last byte, client gone, or refusal). In one worker the slots are a dict in memory;
with ``REDIS_URL`` they are one sorted set per key, so the cap holds across workers
and hosts (the slot counters are ``ollama_gate.shared.slots``).
"""

from __future__ import annotations

from ..call import Call
from ..errors import ApiError
from ..subjects import Subject, levels_of

SLOT = "limits.slot"  # call.extra: the slots this call holds, [(ref, token)]


class Concurrency:
    """The admission check and release hook of the concurrency caps: a slot at every
    level of the call's chain that sets a cap (a team's caps all its members)."""

    def __init__(self, slots):
        self.slots = slots

    def __call__(self, call: Call) -> None:
        """Admission check: take a slot per capped level, or 429 naming the level at
        its cap (the slots taken at the others are given back)."""
        taken: list[tuple[str, str]] = []
        try:
            for level in levels_of(call):
                limit = level.get("max_concurrency")
                if limit is None:
                    continue
                ref = level.subject.ref
                token = self.slots.acquire(ref, limit)
                if token is None:
                    raise full(level.subject, limit)
                taken.append((ref, token))
        except BaseException:
            for ref, token in taken:
                self.slots.release(ref, token)
            raise
        if taken:
            call.extra[SLOT] = taken

    def release(self, call: Call) -> None:
        """Release hook: give the call's slots back as soon as it ends."""
        for ref, token in call.extra.pop(SLOT, ()):
            self.slots.release(ref, token)


def full(subject: Subject, limit: int) -> ApiError:
    """The 429 of a level at its cap."""
    return ApiError(
        429,
        f"{subject.phrase} already has {limit} calls in flight "
        f"(its limit); retry when one ends",
        {
            "Retry-After": "1",
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": "0",
        },
    )
