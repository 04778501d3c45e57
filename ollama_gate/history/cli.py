"""``flask --app ollama_gate history ...``: purge, list, export, import, a key's
mode."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup
from sqlalchemy import select

from ..audit import record
from ..changes import diff, snapshot
from ..extensions import db
from ..lookups import get_key
from ..text import printable
from .models import Request
from .query import Filters, newest_first, parse_time
from .record import MODES, purge_before
from .transfer import csv_lines, import_records, jsonl_lines, read_records

history_cli = AppGroup(
    "history", help="Recorded calls: purge, list, export, import, modes."
)


@history_cli.command("purge")
@click.option(
    "--before",
    "before",
    required=True,
    help="Delete records that started before this UTC date (YYYY-MM-DD) or time.",
)
def purge(before: str) -> None:
    """Delete every record that started before a date."""
    try:
        cutoff = parse_time(before)
    except (ValueError, OverflowError):  # OverflowError: 0001-01-01T00:00+01:00
        raise click.BadParameter(f"not a date: {before!r} (use YYYY-MM-DD)") from None
    deleted = purge_before(cutoff)
    record(
        "history_purged", "", f"before {cutoff:%Y-%m-%d %H:%M:%S}: {deleted} deleted"
    )
    db.session.commit()
    click.echo(
        f"deleted {deleted} records that started before {cutoff:%Y-%m-%d %H:%M:%S} UTC"
    )


def _filter_options(func):
    """The list filters as CLI options (same names as the web page's)."""
    for name, helptext in reversed(
        [
            ("user", "User name."),
            ("team", "Team name (the caller's team when the call was made)."),
            ("key", "Key prefix."),
            ("model", "Model name."),
            ("endpoint", "Endpoint, e.g. /api/chat."),
            ("status", "ok, error or a status code."),
            ("since", "From this UTC date or time."),
            ("until", "Up to this UTC date (inclusive)."),
            ("q", "Text searched in prompts and answers."),
            ("end_user", "A person behind an app key: their id or name."),
            ("calls", "chats, or background (an app's titles, tags...)."),
        ]
    ):
        option = "--" + name.replace("_", "-")
        func = click.option(option, name, default="", help=helptext)(func)
    return func


@history_cli.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv"]),
    default="jsonl",
    show_default=True,
)
@_filter_options
def export(fmt: str, **filters: str) -> None:
    """Write the (filtered) records to stdout as JSON Lines or CSV."""
    try:
        flt = Filters.from_args(filters)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    query = newest_first(flt.apply(select(Request))).execution_options(yield_per=500)
    writer = jsonl_lines if fmt == "jsonl" else csv_lines
    for line in writer(db.session.execute(query).scalars()):
        click.echo(line, nl=False)


@history_cli.command("list")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@_filter_options
def list_records(limit: int, **filters: str) -> None:
    """Show the newest (filtered) records, one a line: time, user, team, person,
    key, model, endpoint, status, task, tokens, prompt."""
    try:
        flt = Filters.from_args(filters)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    query = newest_first(flt.apply(select(Request))).limit(limit)
    for row in db.session.execute(query).scalars():
        person = row.end_user_name or "-"
        if row.end_user_id is not None:
            person = f"{person}#{row.end_user_id}"
        cells = (
            f"{row.started_at:%Y-%m-%d %H:%M:%S}",
            row.user_name or "-",
            row.team_name or "-",
            person,
            row.key_prefix or "-",
            row.model or "-",
            row.endpoint,
            str(row.status or "-"),
            row.task or "chat",
            f"{row.prompt_tokens}+{row.completion_tokens}",
            (row.prompt_text or "").replace("\n", " ")[:80],
        )
        click.echo("\t".join(printable(c) for c in cells))


@history_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv"]),
    default=None,
    help="Default: from the file name (.csv is CSV, anything else JSON Lines).",
)
def import_(file: str, fmt: str | None) -> None:
    """Load an export (possibly from another gateway); known ids are skipped."""
    fmt = fmt or ("csv" if file.lower().endswith(".csv") else "jsonl")
    stream = sys.stdin if file == "-" else open(file, encoding="utf-8-sig", newline="")
    try:
        added, skipped = import_records(read_records(stream, fmt))
    except (ValueError, TypeError) as exc:
        db.session.rollback()
        raise click.ClickException(f"{file}: {exc}") from None
    finally:
        if stream is not sys.stdin:
            stream.close()
    record("history_imported", file[:200], f"{added} added, {skipped} skipped")
    db.session.commit()
    click.echo(f"imported {added} records, skipped {skipped} already present")


@history_cli.command("mode")
@click.argument("prefix")
@click.argument("mode", type=click.Choice([*MODES, "default"]))
def mode(prefix: str, mode: str) -> None:
    """Set a key's history mode (full, metadata, off), or ``default`` (the setting)."""
    key = get_key(prefix)
    before = snapshot(key)
    key.history_mode = None if mode == "default" else mode
    changes = diff(before, key)
    if changes:
        record("key_updated", f"{key.prefix} ({key.user.name})", ", ".join(changes))
    db.session.commit()
    click.echo(
        f"key {key.prefix}: history {mode}"
        + (" (HISTORY_MODE)" if mode == "default" else "")
    )
