"""Commands ``init`` (first admin, user and key) and ``users create|list|delete``."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from ..admin.audit import record
from ..admin.cli import ensure_first_admin
from ..admin.forms import NAME_RULE
from ..extensions import db
from ..keys import create_key
from ..lookups import get_user
from ..models import User
from ..schema import upgrade_database
from ..secrets_out import show_secret
from ..text import printable

users_cli = AppGroup("users", help="Manage users (people or apps that own keys).")


def check_user_name(name: str) -> None:
    """Refuse a user name the admin pages would refuse (empty, control characters)."""
    if len(name) > 120 or not NAME_RULE.regex.fullmatch(name):
        raise click.BadParameter(
            f"{name!r}: up to 120 letters, digits, single spaces and . @ + - _",
            param_hint="NAME",
        )


@click.command("init")
@with_appcontext
def init_command() -> None:
    """Create or upgrade the database (migrations); on a fresh install also the
    first admin, one user and one key."""
    upgrade_database()  # every migration not yet applied; rows are kept
    ensure_first_admin()  # before the user's key, which stays alone on the last line
    if db.session.execute(db.select(User.id).limit(1)).first() is not None:
        click.echo("database ready; existing users kept")
        return
    user = User(name=current_app.config["GATE"]["INIT_USER"])
    db.session.add(user)
    key, plain = create_key(user, name="initial key")
    key.scopes = "manage"  # the first key of a fresh install may pull models too
    db.session.commit()
    show_secret(
        f"created user {user.name!r} with an API key; it is shown only this once:",
        plain,
    )


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
    record("user_created", name)
    db.session.commit()
    click.echo(f"created user {name!r}")


@users_cli.command("list")
def users_list() -> None:
    """List users with their number of keys."""
    for user in db.session.execute(db.select(User).order_by(User.name)).scalars():
        active = sum(1 for k in user.keys if k.state() == "active")
        click.echo(
            f"{printable(user.name)}\tkeys={len(user.keys)}\tactive={active}\t"
            f"created={user.created_at:%Y-%m-%d}"
        )


@users_cli.command("delete")
@click.argument("name")
@click.confirmation_option(prompt="Delete this user and all their keys?")
def users_delete(name: str) -> None:
    """Delete a user and every key they own."""
    db.session.delete(get_user(name))
    record("user_deleted", name)
    db.session.commit()
    click.echo(f"deleted user {name!r}")
