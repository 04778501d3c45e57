"""Every setting of the gateway, with its default; read from ``OLLAMA_GATE_*``
variables.

Each entry of ``SETTINGS`` is (name, parser, default, one-line description). The
README's settings table is kept in step with this list (``tests/test_config.py`` checks
it).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

PREFIX = "OLLAMA_GATE_"


def parse_bool(value: str) -> bool:
    """Parse the usual spellings of a boolean setting."""
    v = value.strip().lower()
    if v in {"1", "true", "yes", "on"}:
        return True
    if v in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {value!r}")


def parse_list(value: str) -> list[str]:
    """Parse a comma-separated list, dropping empty entries."""
    return [item.strip() for item in value.split(",") if item.strip()]


def parse_optional_float(value: str) -> float | None:
    """Parse a number of seconds; empty or 0 means no limit."""
    v = value.strip()
    return float(v) if v and float(v) > 0 else None


def parse_history_mode(value: str) -> str:
    """Parse a history mode: full, metadata or off."""
    v = value.strip().lower()
    if v not in ("full", "metadata", "off"):
        raise ValueError(f"not a history mode (full, metadata, off): {value!r}")
    return v


def parse_rate_limit(value: str) -> str:
    """Check a rate limit in Flask-Limiter's syntax (``60/minute;5/second``); empty =
    none."""
    v = value.strip()
    if v:
        from limits import parse_many

        try:
            parse_many(v)
        except ValueError:
            raise ValueError(f"not a rate limit (e.g. 60/minute): {value!r}") from None
    return v


def parse_rate_strategy(value: str) -> str:
    """Parse a rate limiting strategy of the ``limits`` library."""
    v = value.strip().lower()
    if v not in ("moving-window", "fixed-window", "sliding-window-counter"):
        raise ValueError(
            f"not a strategy (moving-window, fixed-window, "
            f"sliding-window-counter): {value!r}"
        )
    return v


# Origins Ollama itself allows by default (its CORS allow-list), as shell-style
# patterns.
DEFAULT_CORS_ORIGINS = (
    "http://localhost,https://localhost,http://localhost:*,https://localhost:*,"
    "http://127.0.0.1,https://127.0.0.1,http://127.0.0.1:*,https://127.0.0.1:*,"
    "http://0.0.0.0,https://0.0.0.0,http://0.0.0.0:*,https://0.0.0.0:*,"
    "app://*,file://*,tauri://*,vscode-webview://*,vscode-file://*,"
    "chrome-extension://*,moz-extension://*,safari-web-extension://*"
)

Parser = Callable[[str], Any]
SETTINGS: list[tuple[str, Parser, str, str]] = [
    (
        "ENV",
        str,
        "development",
        "`production` refuses to start without a SECRET_KEY; `development` makes one.",
    ),
    ("SECRET_KEY", str, "", "Signs admin sessions and CSRF tokens."),
    (
        "BACKENDS",
        parse_list,
        "http://127.0.0.1:11434",
        "Upstream Ollama servers, comma list of `url` or `name=url` "
        "(the first is used).",
    ),
    (
        "CONNECT_TIMEOUT",
        float,
        "5",
        "Seconds to wait for an upstream connection (502 after).",
    ),
    (
        "READ_TIMEOUT",
        parse_optional_float,
        "600",
        "Seconds to wait for upstream bytes before giving up (504); 0 = no limit.",
    ),
    ("POOL_SIZE", int, "256", "Upstream connections kept open per worker."),
    (
        "HEAD_TIMEOUT",
        float,
        "10",
        "Seconds from a request's first byte to the end of its head; a slower "
        "client is dropped (slowloris). 0 = no deadline.",
    ),
    (
        "MAX_CONNECTIONS_PER_CLIENT",
        int,
        "256",
        "Open connections per client address, per worker; more get 429. 0 = no cap.",
    ),
    (
        "UNCAPPED_ADDRESSES",
        parse_list,
        "127.0.0.1,::1",
        "Client addresses the cap above does not apply to: your reverse proxy.",
    ),
    (
        "HEAP_TRIM_SECONDS",
        float,
        "2",
        "Seconds between handing a worker's freed memory back to the system (glibc's "
        "`malloc_trim`); 0 = never.",
    ),
    (
        "KEY_CACHE_SECONDS",
        float,
        "5",
        "Seconds a key lookup is cached in each worker; a revocation takes up to "
        "this long.",
    ),
    (
        "MAX_BODY_MB",
        float,
        "32",
        "Largest request body accepted, in MiB (blob uploads are streamed and exempt).",
    ),
    (
        "CORS_ORIGINS",
        parse_list,
        DEFAULT_CORS_ORIGINS,
        "Browser origins allowed to call the API (shell patterns; `*` allows all).",
    ),
    (
        "INIT_USER",
        str,
        "default",
        "Name of the user `init` creates on a fresh install.",
    ),
    (
        "LOGIN_RATE_LIMIT",
        str,
        "5/minute",
        "Failed admin logins allowed per client address (Flask-Limiter syntax).",
    ),
    ("SESSION_HOURS", float, "12", "Hours an admin session lasts without activity."),
    (
        "TRUSTED_PROXIES",
        int,
        "0",
        "Reverse proxies in front whose X-Forwarded-For/-Proto are believed (0: none).",
    ),
    (
        "SECURE_COOKIES",
        parse_bool,
        "false",
        "Always mark the admin session cookie `Secure` (it is whenever a request "
        "is HTTPS).",
    ),
    ("LOG_LEVEL", str, "INFO", "Log level of the gateway's own logger."),
    (
        "RATE_LIMIT",
        parse_rate_limit,
        "600/minute",
        "Calls per key for keys without their own limit (`60/minute`, `;` joins "
        "several; empty: none).",
    ),
    (
        "RATE_LIMIT_STRATEGY",
        parse_rate_strategy,
        "moving-window",
        "How rate limits count: `moving-window` (exact), `fixed-window` or "
        "`sliding-window-counter`.",
    ),
    (
        "REDIS_URL",
        str,
        "",
        "Redis shared by every worker and host for limits, quotas and concurrency; "
        "empty: in-process (one worker only).",
    ),
    (
        "REDIS_MAX_CONNECTIONS",
        int,
        "64",
        "Redis connections per worker; calls beyond wait for one instead of "
        "opening more.",
    ),
    (
        "REDIS_PREFIX",
        str,
        "ollama-gate",
        "Prefix of the gateway's keys in Redis (gateways sharing one Redis use "
        "different ones).",
    ),
    (
        "HISTORY_MODE",
        parse_history_mode,
        "full",
        "History of calls: `full`, `metadata` (no prompt or answer text) or `off`; "
        "a key's own mode wins.",
    ),
    (
        "HISTORY_RETENTION_DAYS",
        int,
        "90",
        "Days history is kept; older records are purged hourly; 0 keeps them forever.",
    ),
]


def load_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return the parsed settings from ``environ`` (default ``os.environ``)."""
    env = os.environ if environ is None else environ
    out: dict[str, Any] = {}
    for name, parser, default, _doc in SETTINGS:
        raw = env.get(PREFIX + name, default)
        try:
            out[name] = parser(raw)
        except ValueError as exc:
            raise RuntimeError(f"{PREFIX}{name}: {exc}") from None
    if env.get("DATABASE_URL"):
        out["SQLALCHEMY_DATABASE_URI"] = _normalise_db_url(env["DATABASE_URL"])
    return out


def _normalise_db_url(url: str) -> str:
    """Accept PaaS-style ``postgres://`` URLs and pick the psycopg 3 driver."""
    for old in ("postgres://", "postgresql://"):
        if url.startswith(old):
            return "postgresql+psycopg://" + url[len(old) :]
    return url


def ensure_secret_key(config: dict[str, Any], instance_path: str) -> None:
    """Use the configured secret, or in development keep a generated one in the instance
    folder."""
    if config.get("SECRET_KEY"):
        return
    if config.get("ENV_NAME") == "production":  # the factory's name for ``ENV``
        raise RuntimeError(
            "OLLAMA_GATE_SECRET_KEY is required when OLLAMA_GATE_ENV=production"
        )
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # created private: a write then a chmod would leave it readable a moment
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48))
    config["SECRET_KEY"] = path.read_text().strip()


def first_backend(backends: list[str]) -> str:
    """The upstream base URL of the first ``url`` or ``name=url`` entry."""
    if not backends:
        raise RuntimeError("OLLAMA_GATE_BACKENDS is empty")
    entry = backends[0]
    url = entry.split("=", 1)[1] if "=" in entry.split("://", 1)[0] else entry
    return url.rstrip("/")
