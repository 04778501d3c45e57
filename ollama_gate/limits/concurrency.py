"""Per-key concurrency cap: at most N calls of a key in flight at once.

A slot is taken at admission and given back by a release hook the moment the call ends
(last byte, client gone, or refusal). In one worker the slots are a dict in memory;
with ``REDIS_URL`` they are one sorted set per key, so the cap holds across workers
and hosts (the slot counters are ``ollama_gate.shared.slots``).
"""

from __future__ import annotations

from ..call import Call
from ..errors import ApiError

SLOT = "limits.slot"  # call.extra: the slot this call holds


class Concurrency:
    """The admission check and release hook of the per-key cap."""

    def __init__(self, slots):
        self.slots = slots

    def __call__(self, call: Call) -> None:
        """Admission check: take a slot, or 429 when the key is at its cap."""
        limit = call.identity.max_concurrency
        if limit is None:
            return
        token = self.slots.acquire(call.identity.limits_id, limit)
        if token is None:
            raise ApiError(
                429,
                f"this API key already has {limit} calls in flight "
                f"(its limit); retry when one ends",
                {
                    "Retry-After": "1",
                    "X-RateLimit-Limit": str(limit),
                    "X-RateLimit-Remaining": "0",
                },
            )
        call.extra[SLOT] = token

    def release(self, call: Call) -> None:
        """Release hook: give the call's slot back as soon as it ends."""
        token = call.extra.pop(SLOT, None)
        if token is not None:
            self.slots.release(call.identity.limits_id, token)
