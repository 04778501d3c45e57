"""A command run against a database that was never initialised (or not upgraded
since) says what to run, instead of printing SQLAlchemy's traceback."""

from __future__ import annotations

import re

import click
from sqlalchemy.exc import OperationalError, ProgrammingError

UNDEFINED_TABLE = "42P01"  # PostgreSQL's SQLSTATE for a missing table
# SQLite's "no such table: users"; PostgreSQL's 'relation "users" does not exist'
TABLE_NAMED = re.compile(r'no such table: (\S+)|relation "([^"]+)" does not exist')
HINT = (
    "the database is not initialised{what}: run `flask --app ollama_gate init` "
    "(or `make run`), which creates the database or upgrades it"
)


def missing_table(exc: Exception) -> str | None:
    """The table a database error says is missing ('' when unnamed), or None when
    the error is another."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc)
    found = TABLE_NAMED.search(text)
    if found:
        return found[1] or found[2]
    codes = (getattr(orig, "sqlstate", None), getattr(orig, "pgcode", None))
    return "" if UNDEFINED_TABLE in codes else None


def guard_command(command: click.Command) -> click.Command:
    """``command`` (and, for a group, every command under it) answering a missing
    table with the hint and exit code 1."""
    if getattr(command, "ollama_gate_guarded", False):  # the app is made per test
        return command
    invoke = command.invoke

    def guarded(ctx: click.Context):
        try:
            return invoke(ctx)
        except (OperationalError, ProgrammingError) as exc:
            table = missing_table(exc)
            if table is None:
                raise
            what = f" (it has no table {table})" if table else ""
            raise click.ClickException(HINT.format(what=what)) from None

    command.invoke = guarded
    command.ollama_gate_guarded = True
    return command
