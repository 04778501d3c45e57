"""CLI for per-key limits: ``keys create`` options, ``keys set``, ``keys usage``."""

from __future__ import annotations

from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from ..audit import record
from ..changes import COUNTS, diff, snapshot
from ..extensions import db
from ..keyrules import cli_warnings, expires_option, set_expiry
from ..lookups import get_key
from ..models import ApiKey
from ..subject_row import MAX_COUNT  # noqa: F401 (the limits' bound, named here)
from ..subject_settings import apply_options, options
from ..subject_settings import describe as describe_subject
from ..text import printable

INT_COLUMNS = COUNTS  # the per-key counts, from the one table of subject settings
# the options of every per-key setting (limits, queue weight, history mode), made
# from subject_settings.TABLE; each arrives as text under its column's name
limit_options = options("key")


def apply_limits(key: ApiKey, **values: Any) -> None:
    """Set the given options on ``key`` (None: leave as is); click errors."""
    apply_options(key, "key", values)


def apply_limit_values(key: ApiKey, **values: Any) -> None:
    """Set settings on ``key`` from text; ValueError on bad input."""
    try:
        apply_options(key, "key", values)
    except click.BadParameter as exc:
        raise ValueError(exc.message) from None


def describe(key: ApiKey) -> list[str]:
    """Lines describing a key's limits and its usage against each quota."""
    settings = current_app.config["GATE"]
    if key.rate_limit is None:
        rate = f"{settings['RATE_LIMIT'] or 'unlimited'} (global default)"
    else:
        rate = key.rate_limit
    lines = [
        f"key {key.prefix} ({printable(key.user.name)}"
        f"{' / ' + printable(key.name) if key.name else ''}), "
        f"{key.state()}",
        f"rate limit: {rate}",
        f"models: {key.model_allowlist or 'all'}",
        f"scopes: {key.scopes or '-'} (inference and model lists need none)",
        f"max concurrency: {_quota(key.max_concurrency, '-')}",
        f"queue weight: {key.queue_weight or 1}",
    ]
    if key.app:
        lines.append("app key: its calls name their end users (endusers list)")
    for kind, subject in (("user", key.user), ("team", key.user.team)):
        own = describe_subject(subject, kind) if subject is not None else []
        if own:  # a user's or team's settings bound the key's (the strictest wins)
            lines.append(f"{kind} {printable(subject.name)}: {'; '.join(own)}")
    return lines + usage_lines(str(key.limits_id), key)


def usage_lines(ref: str, subject: Any) -> list[str]:
    """Used / quota or budget / resets at, per period, of a key, user or team."""
    state = current_app.extensions["ollama_gate_limits"]
    lines = []
    for row in state.usage_report(ref, subject):
        calls = (
            f"calls {row['calls']} / {_quota(row['calls_quota'])}, "
            if row["label"] != "this week"
            else ""
        )
        shadow = " (shadow)" if row["shadow"] and row["tokens_quota"] else ""
        lines.append(
            f"{row['label']} (resets {row['resets_text']}): {calls}"
            f"tokens {row['tokens']} / {_quota(row['tokens_quota'], 'no budget')}"
            f"{shadow}"
        )
    return lines


def _quota(value: int | None, none: str = "no quota") -> str:
    return none if value is None else str(value)


APP_HELP = (
    "An app key (e.g. Open WebUI's): its calls name their end user in headers, "
    "each person with their own limits, queue share and history."
)


@click.command("set")
@click.argument("prefix")
@click.option("--app/--no-app", "app", default=None, help=APP_HELP)
@limit_options
@expires_option
@with_appcontext
def keys_set(prefix: str, app: bool | None, **values: Any) -> None:
    """Change a key's limits; give an option as 'none' (or 'default') to remove it."""
    key = get_key(prefix)
    if app is None and all(v is None for v in values.values()):
        raise click.UsageError("give at least one option to change (see --help)")
    before = snapshot(key)
    if app is not None:
        key.app = app
    apply_limits(key, **values)
    set_expiry(key, values["expires"])
    changes = diff(before, key)
    if changes:
        record("key_updated", f"{key.prefix} ({key.user.name})", ", ".join(changes))
    db.session.commit()
    cli_warnings(key)
    click.echo("\n".join(describe(key)))


@click.command("usage")
@click.argument("prefix")
@with_appcontext
def keys_usage(prefix: str) -> None:
    """Show a key's limits and its usage against each quota and budget (day,
    week, month in OLLAMA_GATE_TIMEZONE)."""
    click.echo("\n".join(describe(get_key(prefix))))
