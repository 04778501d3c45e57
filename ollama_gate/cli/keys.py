"""Commands ``keys create|list|disable|enable|revoke`` (limits and admin add more)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from ..audit import record
from ..changes import change_detail
from ..extensions import db
from ..keyrules import cli_expiry, cli_warnings
from ..keys import create_key
from ..limits.cli import APP_HELP, apply_limits, limit_options
from ..lookups import get_key, get_user
from ..models import ApiKey, User, utcnow
from ..text import printable

keys_cli = AppGroup("keys", help="Manage API keys.")
STATE_ACTIONS = {
    "revoke": "key_revoked",
    "disable": "key_disabled",
    "enable": "key_enabled",
}


@keys_cli.command("create")
@click.argument("user")
@click.option("--name", default="", help="A label for the key, e.g. the app using it.")
@click.option(
    "--expires", default=None, help="Expiry date (UTC), YYYY-MM-DD or ISO time."
)
@click.option("--app", is_flag=True, default=False, help=APP_HELP)
@limit_options
def keys_create(user: str, name: str, expires: str | None, app: bool, **limits) -> None:
    """Create a key for USER; the key is printed alone on the last line, only this
    once."""
    owner = get_user(user)
    when = cli_expiry(expires)  # the form's rule: no expiry in the past
    key, plain = create_key(owner, name=name, expires_at=when)
    key.app = app
    apply_limits(key, **limits)  # rate limit, quotas, models, scopes, concurrency
    cli_warnings(key)  # the form's warnings, e.g. an allowlist matching no model
    record(
        "key_created",
        f"{key.prefix} ({owner.name})",
        f"{name} (app key)".strip() if app else name,
    )
    db.session.commit()
    click.echo(
        f"created key {key.prefix} for {owner.name!r}; store it now, it is not kept:"
    )
    click.echo(plain)


@keys_cli.command("list")
@click.option("--user", default=None, help="Only this user's keys.")
def keys_list(user: str | None) -> None:
    """List keys: prefix, user, name, state, dates."""
    query = db.select(ApiKey).join(User).order_by(User.name, ApiKey.id)
    if user:
        query = query.where(User.name == user)
    now = utcnow()
    for key in db.session.execute(query).scalars():
        click.echo(
            "\t".join(
                [
                    key.prefix,
                    printable(key.user.name),
                    printable(key.name or "-"),
                    key.state(now),
                    f"created={key.created_at:%Y-%m-%d %H:%M}",
                    f"last_used={key.last_used_at:%Y-%m-%d %H:%M}"
                    if key.last_used_at
                    else "last_used=-",
                    f"expires={key.expires_at:%Y-%m-%d %H:%M}"
                    if key.expires_at
                    else "expires=-",
                ]
            )
        )


def _set_state(prefix: str, action: str) -> None:
    key = get_key(prefix)
    if key.revoked_at is not None:
        raise click.ClickException(
            f"key {key.prefix} is revoked; that cannot be undone"
        )
    before = {"state": key.state()}
    if action == "revoke":
        key.revoked_at = utcnow()
    else:
        key.disabled = action == "disable"
    record(
        STATE_ACTIONS[action],
        f"{key.prefix} ({key.user.name})",
        change_detail(before, {"state": key.state()}),
    )
    db.session.commit()
    click.echo(f"key {key.prefix} is now {key.state()}")


@keys_cli.command("disable")
@click.argument("prefix")
def keys_disable(prefix: str) -> None:
    """Disable a key (reversible with ``enable``)."""
    _set_state(prefix, "disable")


@keys_cli.command("enable")
@click.argument("prefix")
def keys_enable(prefix: str) -> None:
    """Re-enable a disabled key."""
    _set_state(prefix, "enable")


@keys_cli.command("revoke")
@click.argument("prefix")
def keys_revoke(prefix: str) -> None:
    """Revoke a key for good."""
    _set_state(prefix, "revoke")
