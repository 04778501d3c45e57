"""Commands ``endusers list|show|set|defaults``: the people behind app keys.

The setting options are made from ``subject_settings.TABLE`` (the end user's rows);
every change is audited.
"""

from __future__ import annotations

from typing import Any

import click
from flask.cli import AppGroup

from ..audit import record
from ..extensions import db
from ..lookups import get_key
from ..subject_settings import apply_options, describe, diff, options, snapshot
from ..text import printable
from .models import EndUser
from .people import app_key_of, defaults_for, people_query, usage_of

endusers_cli = AppGroup(
    "endusers", help="The people behind app keys (e.g. Open WebUI's users)."
)


def get_person(ident: str) -> EndUser:
    """The end user with gateway id ``ident``, or a click error."""
    row = (
        db.session.get(EndUser, int(ident))
        if ident.isascii() and ident.isdigit() and len(ident) < 10
        else None
    )
    if row is None:
        raise click.ClickException(f"no end user with id {ident!r} (endusers list)")
    return row


def person_lines(person: EndUser) -> list[str]:
    """What a person is, sets, and used."""
    key = app_key_of(person)
    via = f"key {key.prefix} ({printable(key.user.name)})" if key else "a deleted key"
    lines = [
        f"end user {person.id}: {printable(person.label)} "
        f"(id {printable(person.external_id)}"
        + (f", {printable(person.email)}" if person.email else "")
        + (f", {printable(person.role)}" if person.role else "")
        + f") via {via}",
        *(describe(person, "end_user") or ["no settings of their own"]),
    ]
    if not person.is_defaults:
        first, last = person.first_seen, person.last_seen
        lines.append(f"seen {first:%Y-%m-%d %H:%M} .. {last:%Y-%m-%d %H:%M} UTC")
        for period, calls, tokens in usage_of(person)[:6]:
            lines.append(f"{period}: calls {calls}, tokens {tokens}")
    return lines


@endusers_cli.command("list")
@click.option("--user", default="", help="Only the people of this user's app keys.")
@click.option("--key", "prefix", default="", help="Only the people of this app key.")
@click.option("--search", default="", help="Text in their id, name or email.")
@click.option("--limit", default=100, show_default=True, help="At most this many.")
def endusers_list(user: str, prefix: str, search: str, limit: int) -> None:
    """List end users, most recently seen first: id, user, external id, name,
    email, last seen."""
    key_id = get_key(prefix).limits_id if prefix else None
    query = people_query(user, search, key_id).limit(max(1, min(limit, 10_000)))
    for person, owner in db.session.execute(query).all():
        click.echo(
            "\t".join(
                [
                    str(person.id),
                    printable(owner or "-"),
                    printable(person.external_id),
                    printable(person.name or "-"),
                    printable(person.email or "-"),
                    f"last_seen={person.last_seen:%Y-%m-%d %H:%M}",
                ]
            )
        )


@endusers_cli.command("show")
@click.argument("ident")
def endusers_show(ident: str) -> None:
    """A person's details, settings and recent usage."""
    click.echo("\n".join(person_lines(get_person(ident))))


def change(person: EndUser, values: dict[str, Any]) -> None:
    """Apply the options to a person (or defaults row), audit, commit, show."""
    if all(v is None for v in values.values()):
        raise click.UsageError("give at least one option to change (see --help)")
    before = snapshot(person, "end_user")
    apply_options(person, "end_user", values)
    changes = diff(before, person, "end_user")
    if changes:
        key = app_key_of(person)
        target = f"{person.label} ({key.prefix if key else 'deleted key'})"
        record("end_user_updated", target[:200], ", ".join(changes))
    db.session.commit()
    click.echo("\n".join(person_lines(person)))


@endusers_cli.command("set")
@click.argument("ident")
@options("end_user")
def endusers_set(ident: str, **values: Any) -> None:
    """Change an end user's own settings (by the id ``list`` shows); 'none' removes
    one (then the app key's per-person default applies)."""
    change(get_person(ident), values)


@endusers_cli.command("defaults")
@click.argument("prefix")
@options("end_user")
def endusers_defaults(prefix: str, **values: Any) -> None:
    """Set the per-person defaults of an app key: what each of its people gets for
    a setting they do not set themselves (e.g. --calls-per-day 100)."""
    key = get_key(prefix)
    if not key.app:
        raise click.ClickException(
            f"key {key.prefix} is not an app key (keys set {key.prefix} --app)"
        )
    change(defaults_for(key, create=True), values)
