"""The response cache's settings rows (see ``ollama_gate/settings.py``)."""

from __future__ import annotations

from ..settings import Row, parse_bool

MODES = ("off", "deterministic", "all")
SCOPES = ("user", "shared")
STORES = ("", "database", "redis")


def _choice(kind: str, allowed: tuple[str, ...]):
    def parse(value: str) -> str:
        v = value.strip().lower()
        if v not in allowed:
            names = ", ".join(a or "empty" for a in allowed)
            raise ValueError(f"not a cache {kind} ({names}): {value!r}")
        return v

    parse.__doc__ = f"Parse a cache {kind}: one of {', '.join(allowed)}."
    return parse


parse_cache_mode = _choice("mode", MODES)
parse_cache_scope = _choice("scope", SCOPES)
parse_cache_store = _choice("store", STORES)


def parse_positive(value: str) -> float:
    """Parse a number above zero."""
    v = float(value)
    if not v > 0:
        raise ValueError(f"must be above 0: {value!r}")
    return v


ROWS: list[Row] = [
    (
        "CACHE",
        parse_cache_mode,
        "deterministic",
        "Response cache: `deterministic` (embeddings, and generate or chat with "
        "temperature 0 or a fixed seed), `all` (every generate and chat too) or `off`.",
    ),
    (
        "CACHE_SCOPE",
        parse_cache_scope,
        "user",
        "`user`: a cached answer serves only the user who asked (it can reveal a "
        "prompt); `shared`: every key with the same model allowlist.",
    ),
    (
        "CACHE_STORE",
        parse_cache_store,
        "",
        "Where answers are cached: `database` or `redis`; empty: Redis when "
        "`REDIS_URL` is set, else the database.",
    ),
    (
        "CACHE_TTL_SECONDS",
        parse_positive,
        "86400",
        "Seconds a cached answer is served.",
    ),
    (
        "CACHE_MAX_MB",
        parse_positive,
        "256",
        "Size bound of the cached answers, in MiB; past it the oldest go first.",
    ),
    (
        "CACHE_MAX_ENTRIES",
        int,
        "10000",
        "Most answers cached; past it the oldest go first.",
    ),
    (
        "CACHE_HITS_COUNT_TOKENS",
        parse_bool,
        "false",
        "Whether the tokens of a cache hit count against token quotas (a hit always "
        "counts as a call).",
    ),
]
