"""The master's start-up check: several workers need shared limit counters."""

from __future__ import annotations

import os

from ..envfile import load_env_file


def refuse_unshared_workers(server) -> None:
    """Refuse several workers with in-memory limit counters: each would count on its
    own."""
    load_env_file()  # the app reads .env too; the master must see the same REDIS_URL
    if (
        server.cfg.workers > 1
        and not os.environ.get("OLLAMA_GATE_REDIS_URL", "").strip()
    ):
        raise RuntimeError(
            f"{server.cfg.workers} workers need OLLAMA_GATE_REDIS_URL: rate limits, "
            "quotas and concurrency caps are counted in memory, so each worker would "
            "allow the full limit on its own. Set OLLAMA_GATE_REDIS_URL "
            "(redis://host:6379/0) or run one worker (WEB_CONCURRENCY=1; one gevent "
            "worker holds thousands of streams)."
        )
