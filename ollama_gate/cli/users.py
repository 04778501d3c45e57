"""Commands ``init`` (first admin, user and key) and ``users create|set|list|
delete``."""

from __future__ import annotations

import logging

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from ..admin.cli import ensure_first_admin
from ..admin.forms import NAME_RULE
from ..audit import record
from ..extensions import db
from ..keys import create_key
from ..lookups import get_user
from ..models import User
from ..netkeys import set_networks
from ..schema import upgrade_database
from ..secrets_out import show_secret
from ..text import printable
from .envsetup import offer_env_file

users_cli = AppGroup("users", help="Manage users (people or apps that own keys).")


def check_user_name(name: str) -> None:
    """Refuse a user name the admin pages would refuse (empty, control characters)."""
    if len(name) > 120 or not NAME_RULE.regex.fullmatch(name):
        raise click.BadParameter(
            f"{name!r}: up to 120 letters, digits, single spaces and . @ + - _",
            param_hint="NAME",
        )


@click.command("init")
@click.option(
    "--ask/--no-ask",
    default=None,
    help="Offer to write .env (backend, port, bind address) when there is none: "
    "by default only when stdin is a terminal.",
)
@with_appcontext
def init_command(ask: bool | None = None) -> None:
    """Create or upgrade the database (migrations); on a fresh install also the
    first admin, one user and one key. In a terminal with no .env yet, offer to
    write one first."""
    offer_env_file(ask)  # first: the key stays alone on the last line
    quiet_migrations()
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
        label=f"key of user {user.name!r}",
    )


def quiet_migrations() -> None:
    """Alembic's lines (one per migration) at warning level, unless
    OLLAMA_GATE_LOG_LEVEL=debug: what init prints for people stays readable."""
    if not logging.getLogger().handlers:  # a test runner or an app keeps its own
        debug = current_app.config["GATE"]["LOG_LEVEL"].upper() == "DEBUG"
        logging.basicConfig(
            level=logging.DEBUG if debug else logging.WARNING,
            format="%(levelname)s [%(name)s] %(message)s",
        )


NETWORK_OPTION = click.option(
    "--network",
    "networks",
    multiple=True,
    help="A trusted network (CIDR, e.g. 192.168.1.0/24) whose calls without a key "
    "act as this user; repeat for several.",
)


@users_cli.command("create")
@click.argument("name")
@NETWORK_OPTION
def users_create(name: str, networks: tuple[str, ...]) -> None:
    """Create a user."""
    check_user_name(name)
    if db.session.execute(
        db.select(User).where(User.name == name)
    ).scalar_one_or_none():
        raise click.ClickException(f"user {name!r} already exists")
    user = User(name=name)
    db.session.add(user)
    record("user_created", name)
    if networks:
        db.session.flush()
        _set_networks(user, list(networks))
    db.session.commit()
    click.echo(f"created user {name!r}")


@users_cli.command("set")
@click.argument("name")
@NETWORK_OPTION
@click.option("--no-network", is_flag=True, help="Remove every trusted network.")
def users_set(name: str, networks: tuple[str, ...], no_network: bool) -> None:
    """Set a user's trusted networks (they replace the ones before)."""
    if bool(networks) == no_network:
        raise click.UsageError("give --network (one or more) or --no-network")
    user = get_user(name)
    _set_networks(user, list(networks))
    db.session.commit()


def _set_networks(user: User, networks: list[str]) -> None:
    """Store and audit ``user``'s trusted networks; say what calls now do."""
    try:
        key, before, after = set_networks(user, networks)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--network") from None
    if before == after:
        click.echo(f"{printable(user.name)}: networks unchanged")
        return
    db.session.flush()
    record(
        "user_networks",
        user.name,
        f"networks: {before or 'none'} → {after or 'none'} (key {key.prefix})",
    )
    if after:
        click.echo(
            f"calls without a key from {after} act as {printable(user.name)} "
            f"(key {key.prefix}: its limits and history apply)"
        )
    else:
        click.echo(
            f"{printable(user.name)}: no trusted network; key {key.prefix} revoked"
        )


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
