"""Commands ``hooks add|list|enable|disable|delete|test`` and ``events list|prune``."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import AppGroup

from ..extensions import db
from ..text import printable
from .hooks import HookError, add_hook, delete_hook, send_test, set_enabled, where
from .models import Delivery, Event, Hook
from .retention import prune

hooks_cli = AppGroup("hooks", help="Manage the webhooks events are sent to.")
events_cli = AppGroup("events", help="The event log.")


@hooks_cli.command("add")
@click.argument("url")
@click.option(
    "--secret",
    default=None,
    help="Signing secret; - reads stdin; none: one is made and shown once.",
)
@click.option(
    "--events",
    "kinds",
    default="",
    help="Kinds it gets, comma separated (backend.down,budget.*); none: every kind.",
)
def hooks_add(url: str, secret: str | None, kinds: str) -> None:
    """Send events to URL (http or https), signed with a secret."""
    if secret == "-":
        secret = sys.stdin.readline().strip()
    try:
        hook, plain = add_hook(url, secret, kinds)
    except HookError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"added webhook {hook.id}: {printable(hook.url)}")
    click.echo(f"events: {hook.kinds or 'all'}")
    if secret:
        click.echo("secret: the one given (it is not shown)")
    else:
        click.echo(f"secret: {plain}")
        click.echo("Copy the secret now: it is not shown again.")


@hooks_cli.command("list")
def hooks_list() -> None:
    """Each webhook: id, URL, the kinds it gets, its last delivery (never secrets)."""
    hooks = db.session.execute(db.select(Hook).order_by(Hook.id)).scalars().all()
    if not hooks:
        click.echo("no webhooks")
    for hook in hooks:
        last = db.session.execute(
            db.select(Delivery)
            .where(Delivery.hook_id == hook.id, Delivery.done.is_(True))
            .order_by(Delivery.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        click.echo(
            f"{hook.id}  {printable(hook.url)}  events {hook.kinds or 'all'}  "
            f"{'enabled' if hook.enabled else 'disabled'}  "
            f"last delivery: {last.outcome if last else '-'}"
        )


@hooks_cli.command("delete")
@click.argument("hook_id", type=int)
def hooks_delete(hook_id: int) -> None:
    """Delete webhook HOOK_ID (its deliveries stay on record)."""
    try:
        hook = delete_hook(hook_id)
    except HookError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"deleted webhook {hook_id} ({where(hook.url)})")


@hooks_cli.command("enable")
@click.argument("hook_id", type=int)
def hooks_enable(hook_id: int) -> None:
    """Send events to webhook HOOK_ID again (from the next event on)."""
    _switch(hook_id, True)


@hooks_cli.command("disable")
@click.argument("hook_id", type=int)
def hooks_disable(hook_id: int) -> None:
    """Pause webhook HOOK_ID: nothing is sent to it (its secret and filter stay)."""
    _switch(hook_id, False)


def _switch(hook_id: int, enabled: bool) -> None:
    try:
        hook = set_enabled(hook_id, enabled)
    except HookError as exc:
        raise click.ClickException(str(exc)) from None
    state = "enabled" if enabled else "disabled"
    click.echo(f"webhook {hook_id} {state} ({where(hook.url)})")


@hooks_cli.command("test")
@click.argument("hook_id", type=int)
def hooks_test(hook_id: int) -> None:
    """Send a ``test`` event to webhook HOOK_ID now and say how it went."""
    try:
        d = send_test(current_app._get_current_object(), hook_id)
    except HookError as exc:
        raise click.ClickException(str(exc)) from None
    if d.ok:
        click.echo(f"event {d.event_id} delivered: {d.status}")
        return
    raise click.ClickException(
        f"event {d.event_id} not delivered: {d.outcome} (tried again later, up to "
        f"OLLAMA_GATE_WEBHOOK_ATTEMPTS times; see `events list --kind test`)"
    )


@events_cli.command("list")
@click.option("--kind", default="", help="Only events of this kind.")
@click.option("--limit", default=20, type=click.IntRange(1, 10_000), show_default=True)
def events_list(kind: str, limit: int) -> None:
    """The newest events, each with its deliveries."""
    query = db.select(Event).order_by(Event.id.desc()).limit(limit)
    if kind:
        query = query.where(Event.kind == kind)
    events = db.session.execute(query).scalars().all()
    if not events:
        click.echo("no events")
    for e in events:
        click.echo(
            f"{e.id}  {e.at:%Y-%m-%d %H:%M:%S}  {e.kind}  {printable(e.subject)}  "
            f"{printable(e.message)}"
        )
        tries = db.session.execute(
            db.select(Delivery)
            .where(Delivery.event_id == e.id)
            .order_by(Delivery.hook_id, Delivery.attempt)
        ).scalars()
        for d in tries:
            click.echo(
                f"    webhook {d.hook_id or '(deleted)'} attempt {d.attempt}: "
                f"{d.outcome}"
            )


@events_cli.command("prune")
@click.option(
    "--days",
    type=click.IntRange(1),
    default=None,
    help="Delete events older than this; default OLLAMA_GATE_EVENT_RETENTION_DAYS.",
)
def events_prune(days: int | None) -> None:
    """Delete old events and their deliveries now (workers also do it hourly)."""
    days = days or current_app.config["GATE"]["EVENT_RETENTION_DAYS"]
    if days <= 0:
        raise click.ClickException(
            "OLLAMA_GATE_EVENT_RETENTION_DAYS is 0 (keep forever): give --days"
        )
    click.echo(f"deleted {prune(days)} events older than {days} days")
