"""Commands ``users invite`` (a one-time link to set a password) and ``users
password`` (set one directly); roles are ``users create|set --role``."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from ..accounts.invitations import MAX_HOURS, create_invitation, invite_link
from ..accounts.roles import ROLES
from ..admin.cli import read_password
from ..audit import record
from ..extensions import db
from ..lookups import get_user
from ..secrets_out import show_secret

ROLE_OPTION = click.option(
    "--role",
    type=click.Choice(ROLES),
    default=None,
    help="admin (everything), team_admin (their team) or member (their own keys).",
)


@click.command("invite")
@click.argument("name")
@click.option(
    "--hours",
    type=click.FloatRange(0, MAX_HOURS, min_open=True),
    default=None,
    help="How long the link works (default: the INVITE_HOURS setting, 72).",
)
@click.option(
    "--url",
    default=None,
    help="The address people open the gateway at, e.g. https://gate.example.com "
    "(default: the PUBLIC_URL setting).",
)
@with_appcontext
def users_invite(name: str, hours: float | None, url: str | None) -> None:
    """Print a one-time link with which NAME sets a password (shown only once)."""
    settings = current_app.config["GATE"]
    base = url or settings.get("PUBLIC_URL")
    if not base:
        raise click.UsageError(
            "give --url, the address people open the gateway at "
            "(e.g. https://gate.example.com)"
        )
    if not base.startswith(("http://", "https://")):
        raise click.BadParameter("an http:// or https:// address", param_hint="--url")
    user = get_user(name)
    hours = hours if hours is not None else settings["INVITE_HOURS"]
    token = create_invitation(user, "cli", hours)
    record("invite_created", user.name, f"valid {hours:g} hours")
    db.session.commit()
    if not settings["LOCAL_PASSWORDS"]:
        click.echo("note: LOCAL_PASSWORDS is off, so the link will not work", err=True)
    show_secret(
        f"invitation for {user.name!r}, valid {hours:g} hours, works once "
        "(shown only this once):",
        invite_link(base, token),
        label=f"invitation of {user.name!r}",
    )


@click.command("password")
@click.argument("name")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input (first line) instead of a prompt.",
)
@with_appcontext
def users_password(name: str, password_stdin: bool) -> None:
    """Set NAME's password (prompted for twice, or read from stdin); their open
    sessions end."""
    user = get_user(name)
    password = read_stdin_password() if password_stdin else None
    user.set_password(read_password(password))
    record("password_changed", user.name)
    db.session.commit()
    click.echo(f"password of {user.name!r} set")


def read_stdin_password() -> str:
    """The first line of standard input, without its line ending."""
    return sys.stdin.readline().rstrip("\r\n")
