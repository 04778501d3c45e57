"""``flask --app ollama_gate cache stats | clear``."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from ..audit import record
from ..extensions import db


def _store():
    return current_app.extensions["ollama_gate_cache"].store


@click.group("cache")
def cache_cli() -> None:
    """The response cache: its figures, or clear it."""


@cache_cli.command("stats")
@with_appcontext
def cache_stats() -> None:
    """Print the cached answers, their size and the hit rate."""
    store = _store()
    stats = store.stats()
    looked = stats["hits"] + stats["misses"]
    rate = f"{100 * stats['hits'] / looked:.1f}%" if looked else "-"
    settings = current_app.config["GATE"]
    click.echo(f"store\t{store.kind}")
    click.echo(f"mode\t{settings['CACHE']} (scope {settings['CACHE_SCOPE']})")
    click.echo(f"entries\t{stats['entries']}")
    click.echo(f"bytes\t{stats['bytes']}")
    click.echo(f"hits\t{stats['hits']}")
    click.echo(f"misses\t{stats['misses']}")
    click.echo(f"hit rate\t{rate}")


@cache_cli.command("clear")
@with_appcontext
def cache_clear() -> None:
    """Forget every cached answer and reset the counters."""
    gone = _store().clear()
    record("cache_cleared", "cache", f"{gone} entries")
    db.session.commit()
    click.echo(f"cleared {gone} cached answers")
