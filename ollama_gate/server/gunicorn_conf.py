"""gunicorn settings (``ollama-gate serve``; the checkout's ``gunicorn.conf.py`` is
this): gevent workers, bind from OLLAMA_GATE_HOST and $PORT, workers from
$WEB_CONCURRENCY, each read from the environment and then the settings file."""

import os

from ollama_gate.envfile import load_env_file
from ollama_gate.server import hooks

load_env_file()  # .env (or OLLAMA_GATE_ENV_FILE) as the app reads it, bind included

bind = (
    f"{os.environ.get('OLLAMA_GATE_HOST', '0.0.0.0')}:{os.environ.get('PORT', '8080')}"
)
# One gevent worker holds thousands of streams; more workers need Redis for shared
# limits.
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))

# Idle keep-alive connections are closed after this many seconds (and a client that
# neither sends nor reads for as long is dropped): gunicorn's --keep-alive.
keepalive = 75


worker_class = "ollama_gate.server.worker.GateWorker"  # gevent's pywsgi, tuned
# Past this many open connections a worker stops accepting; streams are long-lived.
worker_connections = int(os.environ.get("OLLAMA_GATE_WORKER_CONNECTIONS", "4000"))
# Generations can run for minutes; gevent workers heartbeat independently of requests.
timeout = 120
# SIGTERM: streams in flight get this long to finish (and be recorded) before the
# workers are killed; the systemd unit's TimeoutStopSec is longer
graceful_timeout = int(os.environ.get("OLLAMA_GATE_GRACEFUL_TIMEOUT", "30"))
accesslog = (
    "-" if os.environ.get("OLLAMA_GATE_ACCESS_LOG", "") in ("1", "true") else None
)
errorlog = "-"
loglevel = os.environ.get("OLLAMA_GATE_LOG_LEVEL", "info").lower()


# several workers need OLLAMA_GATE_REDIS_URL; each run gets a fresh metrics folder
on_starting = hooks.on_starting
child_exit = hooks.child_exit  # a dead worker's calls in flight no longer count
on_exit = hooks.on_exit
worker_exit = hooks.worker_exit  # a stopping worker writes its queued records
when_ready = hooks.when_ready  # the first-run block: where it listens
post_worker_init = hooks.post_worker_init  # ... printed by the first worker
