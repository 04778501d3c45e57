"""gunicorn settings: gevent workers, bind from $PORT, workers from $WEB_CONCURRENCY."""

import os

bind = (
    f"{os.environ.get('OLLAMA_GATE_HOST', '0.0.0.0')}:{os.environ.get('PORT', '8080')}"
)
# One gevent worker holds thousands of streams; more workers need Redis for shared
# limits.
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
worker_class = "gevent"
# Past this many open connections a worker stops accepting; streams are long-lived.
worker_connections = int(os.environ.get("OLLAMA_GATE_WORKER_CONNECTIONS", "4000"))
# Generations can run for minutes; gevent workers heartbeat independently of requests.
timeout = 120
graceful_timeout = 30
keepalive = 75
accesslog = (
    "-" if os.environ.get("OLLAMA_GATE_ACCESS_LOG", "") in ("1", "true") else None
)
errorlog = "-"
loglevel = os.environ.get("OLLAMA_GATE_LOG_LEVEL", "info").lower()


def on_starting(server):
    """Refuse several workers with in-memory limit counters: each would count on its
    own."""
    try:  # the app reads .env too; the master must see the same REDIS_URL
        from dotenv import load_dotenv

        load_dotenv(override=False)
    except ImportError:
        pass
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
