"""gunicorn settings: gevent workers, bind from $PORT, workers from $WEB_CONCURRENCY."""

import os

bind = f"{os.environ.get('OLLAMA_GATE_HOST', '0.0.0.0')}:{os.environ.get('PORT', '8080')}"
# One gevent worker holds thousands of streams; more workers need Redis for shared limits.
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
worker_class = "gevent"
# Past this many open connections a worker stops accepting; streams are long-lived.
worker_connections = int(os.environ.get("OLLAMA_GATE_WORKER_CONNECTIONS", "4000"))
# Generations can run for minutes; gevent workers heartbeat independently of requests.
timeout = 120
graceful_timeout = 30
keepalive = 75
accesslog = "-" if os.environ.get("OLLAMA_GATE_ACCESS_LOG", "") in ("1", "true") else None
errorlog = "-"
loglevel = os.environ.get("OLLAMA_GATE_LOG_LEVEL", "info").lower()
