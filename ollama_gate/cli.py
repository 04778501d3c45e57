"""Command line: ``flask --app ollama_gate init | users ... | keys ...``."""

from __future__ import annotations

from datetime import UTC, datetime, time

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from .extensions import db
from .keys import create_key
from .limits.cli import apply_limits, keys_set, keys_usage, limit_options
from .models import ApiKey, User, utcnow

users_cli = AppGroup("users", help="Manage users (people or apps that own keys).")
keys_cli = AppGroup("keys", help="Manage API keys.")


def parse_when(value: str | None) -> datetime | None:
    """A UTC date (``2027-01-31``, end of that day) or ISO datetime, or None."""
    if not value:
        return None
    try:
        if len(value) == 10:
            return datetime.combine(datetime.fromisoformat(value).date(), time.max)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):  # OverflowError: 0001-01-01T00:00+01:00 in UTC
        raise click.BadParameter(f"not a date: {value!r} (use YYYY-MM-DD)") from None
    return parsed


def check_user_name(name: str) -> None:
    """Refuse a user name the admin pages would refuse (empty, control characters)."""
    from .admin.forms import NAME_RULE  # the one rule, shared with the users page

    if len(name) > 120 or not NAME_RULE.regex.fullmatch(name):
        raise click.BadParameter(
            f"{name!r}: up to 120 letters, digits, single spaces and . @ + - _",
            param_hint="NAME",
        )


def get_user(name: str) -> User:
    """The user called ``name``, or a click error."""
    user = db.session.execute(
        db.select(User).where(User.name == name)
    ).scalar_one_or_none()
    if user is None:
        raise click.ClickException(f"no user named {name!r}")
    return user


def get_key(prefix: str) -> ApiKey:
    """The one key whose visible prefix starts with ``prefix``, or a click error."""
    rows = (
        db.session.execute(
            db.select(ApiKey).where(ApiKey.prefix.startswith(prefix, autoescape=True))
        )
        .scalars()
        .all()
    )
    if not rows:
        raise click.ClickException(f"no key with prefix {prefix!r}")
    if len(rows) > 1:
        raise click.ClickException(
            f"prefix {prefix!r} matches {len(rows)} keys; give more"
        )
    return rows[0]


def _audit(action: str, target: str, detail: str = "") -> None:
    """Record a command's change in the admin audit log (admin "cli", address
    "local")."""
    from .admin.audit import record

    record(action, target, detail)


@click.command("init")
@with_appcontext
def init_command() -> None:
    """Create the database; on a fresh install also the first admin, one user and one
    key."""
    from flask import current_app

    db.create_all()
    from .admin.cli import ensure_first_admin

    ensure_first_admin()  # before the user's key, which stays alone on the last line
    if db.session.execute(db.select(User.id).limit(1)).first() is not None:
        click.echo("database ready; existing users kept")
        return
    user = User(name=current_app.config["GATE"]["INIT_USER"])
    db.session.add(user)
    key, plain = create_key(user, name="initial key")
    key.scopes = "manage"  # the first key of a fresh install may pull models too
    db.session.commit()
    click.echo(
        f"created user {user.name!r} with an API key; it is shown only this once:"
    )
    click.echo(plain)


@users_cli.command("create")
@click.argument("name")
def users_create(name: str) -> None:
    """Create a user."""
    check_user_name(name)
    if db.session.execute(
        db.select(User).where(User.name == name)
    ).scalar_one_or_none():
        raise click.ClickException(f"user {name!r} already exists")
    db.session.add(User(name=name))
    _audit("user_created", name)
    db.session.commit()
    click.echo(f"created user {name!r}")


@users_cli.command("list")
def users_list() -> None:
    """List users with their number of keys."""
    for user in db.session.execute(db.select(User).order_by(User.name)).scalars():
        active = sum(1 for k in user.keys if k.state() == "active")
        click.echo(
            f"{user.name}\tkeys={len(user.keys)}\tactive={active}\t"
            f"created={user.created_at:%Y-%m-%d}"
        )


@users_cli.command("delete")
@click.argument("name")
@click.confirmation_option(prompt="Delete this user and all their keys?")
def users_delete(name: str) -> None:
    """Delete a user and every key they own."""
    db.session.delete(get_user(name))
    _audit("user_deleted", name)
    db.session.commit()
    click.echo(f"deleted user {name!r}")


@keys_cli.command("create")
@click.argument("user")
@click.option("--name", default="", help="A label for the key, e.g. the app using it.")
@click.option(
    "--expires", default=None, help="Expiry date (UTC), YYYY-MM-DD or ISO time."
)
@limit_options
def keys_create(user: str, name: str, expires: str | None, **limits) -> None:
    """Create a key for USER; the key is printed alone on the last line, only this
    once."""
    owner = get_user(user)
    key, plain = create_key(owner, name=name, expires_at=parse_when(expires))
    apply_limits(key, **limits)  # rate limit, quotas, models, scopes, concurrency
    _audit("key_created", f"{key.prefix} ({owner.name})", name)
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
                    key.user.name,
                    key.name or "-",
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
    if action == "revoke":
        key.revoked_at = utcnow()
    else:
        key.disabled = action == "disable"
    kind = {"revoke": "key_revoked", "disable": "key_disabled", "enable": "key_enabled"}
    _audit(kind[action], f"{key.prefix} ({key.user.name})")
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


def register(app: Flask) -> None:
    """Attach the commands to ``app``."""
    app.cli.add_command(init_command)
    app.cli.add_command(users_cli)
    app.cli.add_command(keys_cli)
    keys_cli.add_command(keys_set)
    keys_cli.add_command(keys_usage)
    from .admin.cli import admins_cli, keys_import

    app.cli.add_command(admins_cli)
    keys_cli.add_command(keys_import)
    from .history.cli import (
        history_cli,
    )  # imported here: it imports helpers from this module

    app.cli.add_command(history_cli)
