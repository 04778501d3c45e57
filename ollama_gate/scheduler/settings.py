"""The scheduler's settings rows."""

from __future__ import annotations

from ..settings import Row, parse_choice

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
        "Calls that may wait for a slot at once, per worker (in the whole gateway with "
        "`REDIS_URL`); more get 503 at once, unless a busier key's newest waiting "
        "call gives its place up.",
    ),
    (
        "QUEUE_MAX_PER_KEY",
        int,
        "50",
        "Calls of one key that may wait at once, per worker (in the whole gateway with "
        "`REDIS_URL`); more get 503 at once.",
    ),
    (
        "QUEUE_MAX_PER_USER",
        int,
        "100",
        "Calls of one user's keys together that may wait at once, per worker (in the "
        "whole gateway with `REDIS_URL`); more get 503 at once.",
    ),
    (
        "QUEUE_MAX_MB",
        float,
        "512",
        "MiB the bodies of waiting calls may hold, per worker or in the whole gateway "
        "with `REDIS_URL` (twice a body's size: its bytes and its parsed JSON); past "
        "it, 503 at once.",
    ),
    (
        "QUEUE_MAX_MB_PER_KEY",
        float,
        "128",
        "MiB the bodies of one key's waiting calls may hold, per worker (in the whole "
        "gateway with `REDIS_URL`); past it, 503 at once.",
    ),
    (
        "QUEUE_HEADROOM",
        int,
        "0",
        "Slots of each backend's model kept for callers with no call running: a key "
        "(or user, `FAIR_BY`) that already runs a call may not take the last N free "
        "slots, so beside a flood a newcomer starts at once instead of waiting for a "
        "slot to free. The flood gets N slots fewer even while it is alone; a backend "
        "keeps at least one slot for anyone (`--parallel 1`: no headroom). 0 = off.",
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
    (
        "SWAP_MAX_PASS",
        float,
        "30",
        "Seconds a waiting call that needs its model swapped in (a backend with "
        "`--max-loaded`) may be passed over by calls of loaded models; 0: arrival "
        "order.",
    ),
    (
        "BATCH_MAX_WAIT",
        float,
        "60",
        "Seconds a waiting `batch` call (`--priority batch`, or the "
        "`X-Ollama-Gate-Priority: batch` header) may be passed over by interactive "
        "calls; after that it counts as interactive (batch is never starved).",
    ),
]
