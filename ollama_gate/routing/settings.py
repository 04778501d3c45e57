"""The routing package's settings rows (``OLLAMA_GATE_BACKENDS`` is a core row)."""

from __future__ import annotations

from ..settings import Row, parse_choice, parse_list


def parse_positive(value: str) -> int:
    """A whole number of at least 1."""
    n = int(value.strip())
    if n < 1:
        raise ValueError(f"{value!r} is not a whole number of at least 1")
    return n


def parse_seconds(value: str) -> float:
    """A number of seconds, 0 or more."""
    n = float(value.strip())
    if not n >= 0:  # also NaN
        raise ValueError(f"{value!r} is not a number of seconds of 0 or more")
    return n


ROWS: list[Row] = [
    (
        "ALIASES",
        parse_list,
        "",
        "Other names for models, `alias=model,...`; answers name the alias asked for.",
    ),
    (
        "ROUTES",
        parse_list,
        "",
        "Models pinned to backends, `model=name|name,...`; other models go wherever "
        "they are found.",
    ),
    (
        "HEALTH_INTERVAL",
        float,
        "10",
        "Seconds between health checks and model discovery of each backend.",
    ),
    (
        "PROBE_TIMEOUT",
        float,
        "3",
        "Seconds a health check waits for a backend's answer (behind `/readyz` "
        "and the metrics' health gauge).",
    ),
    (
        "DEFAULT_BACKEND",
        str,
        "",
        "Backend for management calls (pull, create, copy, delete, blobs) and calls "
        "naming no known model; empty: the first.",
    ),
    (
        "LIST_MODELS",
        parse_choice("all", "routed"),
        "all",
        "Model lists show `all` models of every backend, or only `routed` ones and "
        "aliases.",
    ),
    (
        "COLD_LOAD_GRACE",
        float,
        "300",
        "Seconds a call that loads its model keeps its backend call after its client "
        "hung up, so the load finishes for the retry (Ollama aborts a load whose "
        "client left); 0: off, and streams get no early head.",
    ),
    (
        "MAX_HOPS",
        int,
        "1",
        "Gateways a call may pass through before this one (`X-Ollama-Gate-Hops`); "
        "past it, 508 Loop Detected. Peers that list each other need 1.",
    ),
    (
        "ROUTING",
        parse_choice("prefix", "affinity", "least-busy"),
        "prefix",
        "How a model's backend is chosen: `prefix` (the longest prompt prefix it "
        "served recently, until its slots are full), `affinity` (a conversation's "
        "last backend) or `least-busy`; each then prefers loaded, least busy.",
    ),
    (
        "PREFIX_BLOCK",
        parse_positive,
        "256",
        "Characters per hashed block of a prompt for prefix-aware routing (about "
        "64 tokens).",
    ),
    (
        "PREFIX_WAIT",
        parse_seconds,
        "2",
        "Seconds at most a call waits for a slot on its prompt's home (the backend "
        "holding the longest start of it) when that backend's `--parallel` slots are "
        "full, instead of reading the prompt cold on the next best; each call waits "
        "at most what that read would take (learned from Ollama's "
        "`prompt_eval_duration`). 0: never waits.",
    ),
]

# settings the admin UI adds to from the database: (table, what a row is called);
# the settings page reads this, so the admin package needs none of routing's models
IN_DATABASE = {
    "BACKENDS": ("backends", ("backend", "backends")),
    "ALIASES": ("model_aliases", ("alias", "aliases")),
    "ROUTES": ("model_routes", ("route entry", "route entries")),
}
