"""Commands ``init`` (first admin, user and key) and ``users create|set|list|
delete``."""

from __future__ import annotations

import logging
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from ..accounts.manage import set_role
from ..admin.cli import ensure_first_admin, read_password
from ..admin.forms import NAME_RULE
from ..audit import record
from ..extensions import db
from ..keys import create_key
from ..limits.cli import usage_lines
from ..lookups import get_user
from ..models import User
from ..netkeys import set_networks
from ..schema import upgrade_database
from ..secrets_out import show_secret
from ..subject_settings import apply_options, describe, diff, options, snapshot
from ..text import printable
from .accounts import ROLE_OPTION, read_stdin_password
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
    # (asked first: the first admin is a user too)
    fresh = db.session.execute(db.select(User.id).limit(1)).first() is None
    ensure_first_admin()  # before the user's key, which stays alone on the last line
    name = current_app.config["GATE"]["INIT_USER"]
    if (
        not fresh
        or db.session.execute(db.select(User.id).where(User.name == name)).first()
    ):
        click.echo("database ready; existing users kept")
        return
    user = User(name=name)
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


TEAM_OPTION = click.option(
    "--team", default=None, help="The team it belongs to ('none': no team)."
)


@users_cli.command("create")
@click.argument("name")
@NETWORK_OPTION
@TEAM_OPTION
@ROLE_OPTION
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Give it a password, read from standard input (first line).",
)
@options("user")
def users_create(
    name: str,
    networks: tuple[str, ...],
    team: str | None,
    role: str | None,
    password_stdin: bool,
    **values: Any,
) -> None:
    """Create a user (in a team, with a role, with settings that bound every key
    it owns)."""
    from .teams import set_team  # teams' module imports this one's name check

    check_user_name(name)
    if db.session.execute(
        db.select(User).where(User.name == name)
    ).scalar_one_or_none():
        raise click.ClickException(f"user {name!r} already exists")
    user = User(name=name, role="member")
    if password_stdin:
        user.set_password(read_password(read_stdin_password()))
    blank = snapshot(user, "user")
    changes = set_team(user, team)
    apply_options(user, "user", values)
    db.session.add(user)
    record("user_created", name, ", ".join(changes + diff(blank, user, "user")))
    if role:
        set_role(user, role)  # audited on its own row
    if networks:
        db.session.flush()
        _set_networks(user, list(networks))
    db.session.commit()
    click.echo(f"created user {name!r}")


@users_cli.command("set")
@click.argument("name")
@NETWORK_OPTION
@click.option("--no-network", is_flag=True, help="Remove every trusted network.")
@TEAM_OPTION
@ROLE_OPTION
@options("user")
def users_set(
    name: str,
    networks: tuple[str, ...],
    no_network: bool,
    team: str | None,
    role: str | None,
    **values: Any,
) -> None:
    """Set a user's trusted networks (they replace the ones before), team, role
    and settings (they bound every key it owns; 'none' removes one)."""
    from .teams import set_team  # teams' module imports this one's name check

    if networks and no_network:
        raise click.UsageError("give --network (one or more) or --no-network")
    changing = team is not None or any(v is not None for v in values.values())
    if not (networks or no_network or changing or role):
        raise click.UsageError(
            "give --network, --no-network, --team, --role or a setting (see --help)"
        )
    user = get_user(name)
    if role and set_role(user, role):
        click.echo(f"user {printable(user.name)}: role {role}")
    if networks or no_network:
        _set_networks(user, list(networks))
    before = snapshot(user, "user")
    changes = set_team(user, team)
    apply_options(user, "user", values)
    changes += diff(before, user, "user")
    if changes:
        record("user_updated", user.name, ", ".join(changes))
    db.session.commit()
    if changing:
        team_name = printable(user.team.name) if user.team else "none"
        lines = [f"user {printable(user.name)}: team {team_name}"]
        usage = usage_lines(f"user:{user.id}", user)
        click.echo("\n".join(lines + describe(user, "user") + usage))


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
    """List users with their number of keys (and role, unless member)."""
    for user in db.session.execute(db.select(User).order_by(User.name)).scalars():
        active = sum(1 for k in user.keys if k.state() == "active")
        team = f"\tteam={printable(user.team.name)}" if user.team else ""
        role = f"\trole={user.role}" if user.role != "member" else ""
        click.echo(
            f"{printable(user.name)}\tkeys={len(user.keys)}\tactive={active}\t"
            f"created={user.created_at:%Y-%m-%d}{team}{role}"
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
