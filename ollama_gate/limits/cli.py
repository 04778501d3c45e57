"""CLI for per-key limits: ``keys create`` options, ``keys set``, ``keys usage``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from ..changes import COUNTS, diff, snapshot
from ..extensions import db
from ..keyrules import cli_warnings, expires_option, set_expiry
from ..keys import split_list
from ..lookups import get_key
from ..models import ApiKey
from ..text import printable
from .access import SCOPES
from .rates import check_rate_limit_spec

CLEAR = object()  # an option given as "none": remove the key's own setting
MAX_COUNT = 2**31 - 1  # the columns are INTEGER: PostgreSQL refuses more
INT_COLUMNS = COUNTS  # the per-key counts, from the one list of key settings


class OptionalInt(click.ParamType):
    """A count of zero or more, or ``none`` to remove the setting."""

    name = "N|none"

    def convert(self, value: Any, param, ctx) -> Any:
        """Parse the option's text."""
        if value is CLEAR or isinstance(value, int):
            return value
        if str(value).strip().lower() in ("none", ""):
            return CLEAR
        try:
            n = int(value)
        except ValueError:
            self.fail(f"{value!r} is not a whole number (or 'none')", param, ctx)
        if n < 0:
            self.fail("must be 0 or more", param, ctx)
        if n > MAX_COUNT:
            self.fail(f"must be at most {MAX_COUNT}", param, ctx)
        return n


def limit_options(command: Callable) -> Callable:
    """Add the per-key limit options to a click command (``None``: option not given)."""
    count = OptionalInt()
    options = [
        click.option(
            "--rate-limit",
            default=None,
            help="e.g. '10/minute' or '5/second;200/hour'; 'unlimited'; "
            "'default' follows OLLAMA_GATE_RATE_LIMIT.",
        ),
        click.option(
            "--calls-per-day",
            type=count,
            default=None,
            help="Inference calls per UTC day ('none': no quota).",
        ),
        click.option(
            "--tokens-per-day",
            type=count,
            default=None,
            help="Prompt plus completion tokens per UTC day.",
        ),
        click.option(
            "--calls-per-month",
            type=count,
            default=None,
            help="Inference calls per UTC month.",
        ),
        click.option(
            "--tokens-per-month",
            type=count,
            default=None,
            help="Prompt plus completion tokens per UTC month.",
        ),
        click.option(
            "--models",
            default=None,
            help="Allowed model patterns, e.g. 'llama3*,qwen2.5:7b' ('none': all).",
        ),
        click.option(
            "--scopes",
            default=None,
            help=f"Extra scopes: {', '.join(SCOPES)} (pull, push, create, copy, "
            "delete, blobs); 'none' removes them.",
        ),
        click.option(
            "--max-concurrency",
            type=count,
            default=None,
            help="Calls of this key in flight at once ('none': no cap).",
        ),
        click.option(
            "--queue-weight",
            type=count,
            default=None,
            help="Its share of backend slots when calls wait, e.g. 3: three times "
            "a key of weight 1 ('none': 1).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def apply_limits(key: ApiKey, **values: Any) -> None:
    """Set the given limit options on ``key`` (None: leave as is); click errors."""
    try:
        apply_limit_values(key, **values)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def apply_limit_values(key: ApiKey, **values: Any) -> None:
    """Set limit settings on ``key`` from text or numbers; ValueError on bad input."""
    rate = values.get("rate_limit")
    if rate is not None:
        rate = rate.strip()
        key.rate_limit = (
            None if rate.lower() in ("default", "") else check_rate_limit_spec(rate)
        )
    for column in INT_COLUMNS:
        value = values.get(column)
        if value is not None:
            if value is not CLEAR and (not isinstance(value, int) or value < 0):
                raise ValueError(
                    f"{column.replace('_', ' ')}: a whole number of 0 or more"
                )
            setattr(key, column, None if value is CLEAR else value)
    models = values.get("models")
    if models is not None:
        patterns = split_list(models)
        key.model_allowlist = None if patterns in ([], ["none"]) else ",".join(patterns)
    scopes = values.get("scopes")
    if scopes is not None:
        wanted = [s.lower() for s in split_list(scopes) if s.lower() != "none"]
        unknown = sorted(set(wanted) - set(SCOPES))
        if unknown:
            raise ValueError(
                f"unknown scope {unknown[0]!r} (known: {', '.join(SCOPES)})"
            )
        key.scopes = ",".join(sorted(set(wanted)))


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
    state = current_app.extensions["ollama_gate_limits"]
    for row in state.report(key):
        lines.append(
            f"{row['label']} (resets {row['resets']:%Y-%m-%d %H:%M} UTC): "
            f"calls {row['calls']} / {_quota(row['calls_quota'])}, "
            f"tokens {row['tokens']} / {_quota(row['tokens_quota'])}"
        )
    return lines


def _quota(value: int | None, none: str = "no quota") -> str:
    return none if value is None else str(value)


@click.command("set")
@click.argument("prefix")
@limit_options
@expires_option
@with_appcontext
def keys_set(prefix: str, **values: Any) -> None:
    """Change a key's limits; give an option as 'none' (or 'default') to remove it."""
    from ..admin.audit import record  # here: admin's forms import this module

    key = get_key(prefix)
    if all(v is None for v in values.values()):
        raise click.UsageError("give at least one option to change (see --help)")
    before = snapshot(key)
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
    """Show a key's limits and its usage against each quota (UTC day and month)."""
    click.echo("\n".join(describe(get_key(prefix))))
