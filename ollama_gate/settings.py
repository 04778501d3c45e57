"""The core's settings rows and the parsers every package's rows use.

A row is (name, parser, default, one-line description); the variable is
``OLLAMA_GATE_<name>``. Each feature package keeps its own rows in its
``settings.py``; ``config.py`` joins them all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .hosts import DEFAULT_ALLOWED_HOSTS
from .remote import parse_header, parse_proxies

Parser = Callable[[str], Any]
Row = tuple[str, Parser, str, str]


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


def parse_choice(*choices: str):
    """A parser accepting one of ``choices`` (case-insensitive)."""

    def parse(value: str) -> str:
        v = value.strip().lower()
        if v not in choices:
            raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
        return v

    return parse


def parse_optional_float(value: str) -> float | None:
    """Parse a number of seconds; empty or 0 means no limit."""
    v = value.strip()
    return float(v) if v and float(v) > 0 else None


# Origins Ollama itself allows by default (its CORS allow-list), as shell-style
# patterns.
DEFAULT_CORS_ORIGINS = (
    "http://localhost,https://localhost,http://localhost:*,https://localhost:*,"
    "http://127.0.0.1,https://127.0.0.1,http://127.0.0.1:*,https://127.0.0.1:*,"
    "http://0.0.0.0,https://0.0.0.0,http://0.0.0.0:*,https://0.0.0.0:*,"
    "app://*,file://*,tauri://*,vscode-webview://*,vscode-file://*,"
    "chrome-extension://*,moz-extension://*,safari-web-extension://*"
)

ROWS: list[Row] = [
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
        "Backends (Ollama servers or other gateways), comma list of `name=url` or "
        "`url`; more are added with the `backends` commands.",
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
        "Seconds to wait for upstream bytes, the first included (a model may load "
        "for minutes), before giving up (504); 0 = no limit.",
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
        "BODY_TIMEOUT",
        float,
        "60",
        "Seconds from the end of a request's head to the end of its body; a slower "
        "client gets 408 and is dropped. Uploads of model blobs by a key with the "
        "`manage` scope are exempt. 0 = no deadline.",
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
        "TRUSTED_PROXIES",
        parse_proxies,
        "",
        "Addresses or networks of the reverse proxies in front (`127.0.0.1,"
        "10.0.0.0/8`): only from them are forwarding headers believed. Empty: none.",
    ),
    (
        "PROXY_HEADER",
        parse_header,
        "X-Forwarded-For",
        "The header the trusted proxies name the client in: `X-Forwarded-For`, "
        "`X-Real-IP` or `Forwarded`.",
    ),
    (
        "ALLOWED_HOSTS",
        parse_list,
        DEFAULT_ALLOWED_HOSTS,
        "Host names a call without a key may use (shell patterns; IP literals and "
        "the machine's hostname always; `*` allows all).",
    ),
    ("LOG_LEVEL", str, "INFO", "Log level of the gateway's own logger."),
    (
        "RECORD_MAX_PENDING",
        int,
        "10000",
        "Finished calls a worker keeps while its database is gone, retried until "
        "written (history, usage, quotas); past this the newest are dropped and "
        "counted.",
    ),
    (
        "INSTANCE_PATH",
        str,
        "",
        "Folder of the SQLite database, the generated secret key and the first-run "
        "secrets; empty: `instance/` in a checkout, else in the working directory.",
    ),
    (
        "ENV_FILE",
        str,
        "",
        "The settings file read after the environment (which wins); empty: `.env` "
        "in the working directory. The server, gunicorn and every command read it.",
    ),
]
