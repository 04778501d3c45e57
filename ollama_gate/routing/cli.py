"""Commands ``backends list|add|set|disable|enable|remove|route`` and
``aliases list|add|remove``."""

from __future__ import annotations

import sys
from collections.abc import Callable

import click
from flask import current_app
from flask.cli import AppGroup

from ..audit import FleetError
from ..text import printable
from .manage import (
    add_alias,
    add_backend,
    remove_alias,
    remove_backend,
    set_backend,
    set_route,
)
from .status import fleet_status

backends_cli = AppGroup(
    "backends", help="Manage the Ollama servers behind the gateway."
)
aliases_cli = AppGroup("aliases", help="Manage other names for models.")


def change(make: Callable, *args, **kwargs):
    """Make a change (``manage``); a refusal ends the command with its reason."""
    try:
        return make(*args, **kwargs)
    except FleetError as exc:
        raise click.ClickException(str(exc)) from None


def _settings() -> dict:
    return current_app.config["GATE"]


def _fleet():
    return current_app.extensions["ollama_gate"].fleet


def _token(value: str | None) -> str | None:
    """``--token -`` reads the token from standard input (kept out of shell history)."""
    if value == "-":
        return sys.stdin.readline().strip()
    return value


def backend_options(fn):
    """The options ``add`` and ``set`` share."""
    for option in (
        click.option(
            "--max-loaded",
            type=int,
            default=None,
            help="Models it holds loaded at once: the queue runs loaded ones first "
            "(0: learned from /api/ps).",
        ),
        click.option(
            "--parallel",
            type=int,
            default=None,
            help="Calls of one model it runs at once (0: no cap).",
        ),
        click.option(
            "--weight",
            type=int,
            default=None,
            help="Share of calls among equal backends (default 1).",
        ),
        click.option(
            "--token",
            default=None,
            help="Bearer token for this backend only; - reads stdin, '' removes it.",
        ),
    ):
        fn = option(fn)
    return fn


@backends_cli.command("list")
def backends_list() -> None:
    """Each backend: state, URL, models, loaded models, calls in flight, last error."""
    for row in fleet_status(current_app, check=True):
        click.echo(
            f"{printable(row['name'])}  {row['state']}  {printable(row['url'])}  "
            f"from {row['source']}  weight {row['weight']}  "
            f"parallel {row['parallel'] or '-'}  "
            f"max loaded {row['max_loaded'] or '-'}  token {row['token']}"
        )
        click.echo(
            f"    version: {row['version'] or '-'}  in flight: {row['in_flight']}"
        )
        click.echo(f"    models: {printable(', '.join(row['models'])) or '-'}")
        click.echo(f"    loaded: {printable(', '.join(row['loaded'])) or '-'}")
        if row["last_error"]:
            click.echo(f"    last error: {printable(row['last_error'])}")
        if row["shadows"]:  # loud: calls go to this row's URL, not the setting's
            name = printable(row["name"])
            click.echo(
                f"    WARNING: overrides OLLAMA_GATE_BACKENDS {name}="
                f"{printable(row['shadows'])}; `backends remove {name}` goes back to it"
            )


@backends_cli.command("add")
@click.argument("name")
@click.argument("url")
@backend_options
def backends_add(name: str, url: str, token, weight, parallel, max_loaded) -> None:
    """Add backend NAME at URL (http://host:11434, or another gateway's address)."""
    change(
        add_backend,
        _settings(),
        name,
        url,
        token=_token(token),
        weight=weight,
        parallel=parallel,
        max_loaded=max_loaded,
    )
    click.echo(f"added backend {name} ({url}); workers use it within HEALTH_INTERVAL")


@backends_cli.command("set")
@click.argument("name")
@click.option("--url", default=None, help="A new address.")
@backend_options
def backends_set(name: str, url, token, weight, parallel, max_loaded) -> None:
    """Change backend NAME (one from OLLAMA_GATE_BACKENDS is overridden here)."""
    change(
        set_backend,
        _settings(),
        name,
        url=url,
        token=_token(token),
        weight=weight,
        parallel=parallel,
        max_loaded=max_loaded,
    )
    click.echo(f"changed backend {name}")


@backends_cli.command("disable")
@click.argument("name")
def backends_disable(name: str) -> None:
    """Send no more calls to backend NAME (calls in flight finish)."""
    change(set_backend, _settings(), name, enabled=False)
    click.echo(f"disabled backend {name}")


@backends_cli.command("enable")
@click.argument("name")
def backends_enable(name: str) -> None:
    """Send calls to backend NAME again."""
    change(set_backend, _settings(), name, enabled=True)
    click.echo(f"enabled backend {name}")


@backends_cli.command("remove")
@click.argument("name")
def backends_remove(name: str) -> None:
    """Remove backend NAME and its routes."""
    click.echo(f"backend {name}: {change(remove_backend, _settings(), name)}")


@backends_cli.command("route")
@click.argument("model")
@click.argument("names", nargs=-1)
def backends_route(model: str, names: tuple[str, ...]) -> None:
    """Pin MODEL to backends NAMES (none: it goes wherever it is found again)."""
    _fleet().reload()
    unknown = [n for n in names if _fleet().get(n) is None]
    if unknown:
        raise click.ClickException(f"no backend is named {', '.join(unknown)}")
    change(set_route, model, list(names))
    click.echo(f"{model} -> {' '.join(names) or 'wherever it is found'}")


@aliases_cli.command("list")
def aliases_list() -> None:
    """Every alias and the model it runs."""
    fleet = _fleet()
    fleet.reload()
    for alias, model in sorted(fleet.aliases.items()):
        click.echo(f"{printable(fleet.aliases.written[alias])} -> {printable(model)}")


@aliases_cli.command("add")
@click.argument("alias")
@click.argument("model")
def aliases_add(alias: str, model: str) -> None:
    """Make ALIAS another name for MODEL."""
    change(add_alias, alias, model)
    click.echo(f"{alias} -> {model}")


@aliases_cli.command("remove")
@click.argument("alias")
def aliases_remove(alias: str) -> None:
    """Remove ALIAS (one made here; those of OLLAMA_GATE_ALIASES stay)."""
    change(remove_alias, alias)
    click.echo(f"removed alias {alias}")
