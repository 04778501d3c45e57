"""The gateway's Prometheus metrics, made once per process.

Under gunicorn each worker writes its values to files in ``PROMETHEUS_MULTIPROC_DIR``
(set up by ``server/hooks.py`` before the workers start) and ``/metrics`` adds up all
workers' files; elsewhere (tests, ``flask run``) they live in the default registry.
Labels are kept bounded: endpoints outside the known API are ``other``, the model
is named only on calls the gateway or the backend accepted, by its canonical
spelling, and past ``labels.MAX_MODELS`` distinct models a process says ``other``.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# seconds: from a cached answer's few milliseconds to a long generation's minutes
TTFB_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
TOTAL_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)

CALLS = Counter(
    "ollama_gate_calls",
    "API calls answered, by endpoint, model, status, backend and cache result.",
    ["endpoint", "model", "status", "backend", "cache"],
)
REFUSALS = Counter(
    "ollama_gate_refusals",
    "API calls the gateway refused itself, before any backend (401 no key, 403 not "
    "allowed, 429 limit, 400/413 bad request), by endpoint and status.",
    ["endpoint", "status"],
)
UPSTREAM_ERRORS = Counter(
    "ollama_gate_upstream_errors",
    "Calls a backend failed: 5xx answers, unreachable (502) or slow (504) "
    "backends, streams broken midway (status=stream).",
    ["backend", "status"],
)
TOKENS = Counter(
    "ollama_gate_tokens",
    "Tokens read (in: prompt) and generated (out), by model and backend.",
    ["direction", "model", "backend"],
)
TTFB = Histogram(
    "ollama_gate_time_to_first_byte_seconds",
    "Seconds from a call's arrival to its first byte sent back.",
    ["endpoint"],
    buckets=TTFB_BUCKETS,
)
DURATION = Histogram(
    "ollama_gate_call_duration_seconds",
    "Seconds from a call's arrival to its last byte.",
    ["endpoint"],
    buckets=TOTAL_BUCKETS,
)
IN_FLIGHT = Gauge(
    "ollama_gate_calls_in_flight",
    "Admitted calls not yet finished, all workers together.",
    multiprocess_mode="livesum",
)
BACKENDS_READY = Gauge(
    "ollama_gate_backends_ready",
    "1 when at least one backend answers (as /readyz sees it), else 0.",
    multiprocess_mode="livemostrecent",  # the last scrape's view
)
BACKEND_UP = Gauge(
    "ollama_gate_backend_up",
    "1 while a backend is enabled and passed its last health check, by backend "
    "(the most hopeful worker's view).",
    ["backend"],
    multiprocess_mode="livemax",
)
QUEUE_WAITING = Gauge(
    "ollama_gate_queue_waiting",
    "Calls waiting in the gateway for a backend slot, by model, all workers together.",
    ["model"],
    multiprocess_mode="livesum",
)
MODEL_LOAD = Histogram(
    "ollama_gate_model_load_seconds",
    "Seconds a backend took to load a model for a call that found it not loaded "
    "(Ollama's load_duration, or the wait for the answer's head when the client "
    "left), by backend and model.",
    ["backend", "model"],
    buckets=(0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300),
)
QUEUE_WAIT = Histogram(
    "ollama_gate_queue_wait_seconds",
    "Seconds a call waited in the gateway's queue for a slot (calls that waited).",
    buckets=TOTAL_BUCKETS,
)
QUEUE_HANDOFF = Histogram(
    "ollama_gate_queue_handoff_seconds",
    "Seconds from a slot given back while calls waited to the next waiting call "
    "granted it, on Redis' clock (the cluster queue, every host alike), by whether "
    "the worker that freed it is the one that took it (worker=same or other).",
    ["worker"],
    buckets=(
        0.0005,
        0.001,
        0.002,
        0.003,
        0.005,
        0.0075,
        0.01,
        0.015,
        0.025,
        0.05,
        0.1,
        1,
    ),
)
PREFIX_WAITS = Counter(
    "ollama_gate_prefix_waits",
    "Calls that waited for their prompt's home backend (its slots full) rather than "
    "read the prompt cold elsewhere, by outcome: home (a slot freed in time) or "
    "elsewhere (the wait's bound passed, or calls of the model queued).",
    ["outcome"],
)
RECORDS_PENDING = Gauge(
    "ollama_gate_records_pending",
    "Finished calls waiting for the database to come back (a step's history, usage "
    "or quota write), all workers together.",
    multiprocess_mode="livesum",
)
RECORDS_DROPPED = Counter(
    "ollama_gate_records_dropped",
    "Finished calls a recorder step dropped because RECORD_MAX_PENDING calls were "
    "already waiting for the database, by step.",
    ["step"],
)
