"""The routing package's settings rows (``OLLAMA_GATE_BACKENDS`` is a core row)."""

from __future__ import annotations

from ..settings import Row, parse_list


def parse_choice(*choices: str):
    """A parser accepting one of ``choices`` (case-insensitive)."""

    def parse(value: str) -> str:
        v = value.strip().lower()
        if v not in choices:
            raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
        return v

    return parse


def parse_positive(value: str) -> int:
    """A whole number of at least 1."""
    n = int(value.strip())
    if n < 1:
        raise ValueError(f"{value!r} is not a whole number of at least 1")
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
]
