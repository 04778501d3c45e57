"""The events package's settings rows (the event log and its webhooks)."""

from __future__ import annotations

from ..settings import Row

ROWS: list[Row] = [
    (
        "EVENT_QUEUE_WAIT_SECONDS",
        float,
        "30",
        "A call that waits longer than this in the gateway's queue records a "
        "`queue.wait` event (at most one per model a minute); 0 = never.",
    ),
    (
        "EVENT_KEY_EXPIRING_DAYS",
        float,
        "7",
        "A key that expires within this many days records one `key.expiring` event "
        "(per key and expiry date); 0 = never.",
    ),
    (
        "EVENT_RETENTION_DAYS",
        int,
        "90",
        "Events (and their deliveries) older than this many days are deleted, "
        "hourly; 0 = keep forever.",
    ),
    (
        "WEBHOOK_ATTEMPTS",
        int,
        "6",
        "Attempts to deliver one event to one webhook before giving up.",
    ),
    (
        "WEBHOOK_BACKOFF_SECONDS",
        float,
        "10",
        "Seconds before a failed delivery's second attempt; doubled for each "
        "attempt after.",
    ),
    (
        "WEBHOOK_TIMEOUT_SECONDS",
        float,
        "5",
        "Seconds a webhook receiver gets to connect and to answer.",
    ),
    (
        "WEBHOOK_POLL_SECONDS",
        float,
        "2",
        "Seconds between each worker's looks for deliveries that are due.",
    ),
]
