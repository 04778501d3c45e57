"""``init``'s offer of a settings file: ``.env`` written from a few answers (backend,
port, bind address) or copied from the example, when a person runs it in a terminal
and there is none yet. Never asked when stdin is no terminal (systemd, containers,
scripts): those bring their own settings."""

from __future__ import annotations

import ipaddress
import os
import re
import sys

import click

from ..envfile import env_file_path
from ..routing.backends import parse_backends

PATH = ".env"
# the example settings file (``.env.example`` in a checkout is this text; a test
# keeps them in step): every line but the backend commented
EXAMPLE = """\
# Copy to .env and adjust. Every OLLAMA_GATE_* setting is listed in docs/settings.md.
OLLAMA_GATE_BACKENDS=http://127.0.0.1:11434
# OLLAMA_GATE_ENV=production
# OLLAMA_GATE_SECRET_KEY=change-me-to-a-long-random-string
# DATABASE_URL=postgresql://ollama_gate@127.0.0.1/ollama_gate
# PORT=8080
# WEB_CONCURRENCY=2
# OLLAMA_GATE_REDIS_URL=redis://127.0.0.1:6379/0
# OLLAMA_GATE_METRICS_TOKEN=a-long-random-string-for-prometheus
# OLLAMA_GATE_CALL_LOG=json
"""
_HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")


def interactive() -> bool:
    """True when a person is at the keyboard (stdin is a terminal)."""
    return sys.stdin is not None and sys.stdin.isatty()


def backend_url(value: str) -> str:
    """A backend as ``OLLAMA_GATE_BACKENDS`` takes it: one URL or ``name=url``."""
    value = value.strip()
    try:
        parse_backends([value])
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if not re.match(r"^([\w.-]+=)?https?://[^\s,'\"#]+$", value):
        raise click.BadParameter("an http(s) URL, e.g. http://127.0.0.1:11434")
    return value


def bind_address(value: str) -> str:
    """An address to listen on: an IP address or a host name."""
    value = value.strip()
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        if _HOSTNAME.fullmatch(value):
            return value
    raise click.BadParameter("an IP address (0.0.0.0, 127.0.0.1, ::) or a host name")


def from_answers() -> str:
    """The settings file's text from a person's answers, the example's other
    settings below it, commented."""
    backend = click.prompt(
        "Ollama server (backend URL)",
        default="http://127.0.0.1:11434",
        value_proc=backend_url,
    )
    port = click.prompt("Port to serve on", default=8080, type=click.IntRange(1, 65535))
    host = click.prompt(
        "Address to listen on (127.0.0.1: this machine only)",
        default="0.0.0.0",
        value_proc=bind_address,
    )
    rest = [
        line
        for line in EXAMPLE.splitlines()[2:]
        if not line.startswith("# PORT=")  # answered above
    ]
    lines = [
        "# Written by `ollama-gate init`. Every setting: docs/settings.md.",
        f"OLLAMA_GATE_BACKENDS={backend}",
        f"PORT={port}",
        f"OLLAMA_GATE_HOST={host}",
        *rest,
    ]
    return "\n".join(lines) + "\n"


def offer_env_file(ask: bool | None) -> None:
    """Offer to write ``.env`` when there is no settings file; ``ask`` None: only
    when stdin is a terminal."""
    if ask is False or (ask is None and not interactive()):
        return
    if env_file_path() is not None:
        return  # a settings file already drives the server and the commands
    choice = click.prompt(
        "No settings file (.env) here. Write one from a few [a]nswers, [c]opy the "
        "example, or [s]kip?",
        default="a",
        type=click.Choice(["a", "c", "s"]),
    )
    if choice == "s":
        return
    text = from_answers() if choice == "a" else EXAMPLE
    # created, never overwritten; private: it may hold a secret key later
    fd = os.open(PATH, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    click.echo(f"wrote {PATH}: the server and every command read it")
