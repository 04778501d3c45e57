"""The scheduler's settings rows."""

from __future__ import annotations

from ..routing.settings import parse_choice
from ..settings import Row

ROWS: list[Row] = [
    (
        "QUEUE_TIMEOUT",
        float,
        "120",
        "Seconds a call may wait in the gateway for a backend slot (backends with "
        "`--parallel`); after that, 503 with Retry-After.",
    ),
    (
        "QUEUE_MAX",
        int,
        "200",
        "Calls that may wait for a slot at once, per worker; more get 503 at once.",
    ),
    (
        "FAIR_BY",
        parse_choice("key", "user"),
        "key",
        "Waiting calls are shared out by `key` or by `user`: the one with the fewest "
        "calls running goes next, then turns by weight (`--queue-weight`).",
    ),
    (
        "AFFINITY_SECONDS",
        float,
        "1800",
        "Seconds a conversation's next turn prefers the backend of its last turn "
        "(Ollama's prompt cache); 0 = off.",
    ),
]
