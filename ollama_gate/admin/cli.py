"""Commands: ``admins create|list|delete|set-password``, ``keys import``."""

from __future__ import annotations

import secrets

import click
from flask.cli import AppGroup, with_appcontext

from ..accounts.manage import find_user, first_admin_name, has_admin, remove_admin
from ..accounts.passwords import check_password_strength
from ..accounts.roles import ADMIN
from ..audit import record
from ..extensions import db
from ..keys import create_key, hash_key
from ..models import ApiKey, User
from ..secrets_out import show_secret
from ..text import printable

admins_cli = AppGroup(
    "admins",
    help="Manage admins (users with the admin role; see also 'users ... --role').",
)
MIN_IMPORTED_KEY = 16  # shorter keys can be guessed: a fast hash does not protect them


def get_admin(name: str) -> User:
    """The user called ``name`` with the admin role, or a click error."""
    admin = find_user(name)
    if admin is None or admin.role != ADMIN:
        raise click.ClickException(f"no admin named {name!r}")
    return admin


def read_password(password: str | None) -> str:
    """The given password, or one prompted for twice; too short ones are refused."""
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        check_password_strength(password)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    return password


def ensure_first_admin() -> None:
    """With no admin yet, create ``admin`` with a random password, printed once."""
    if has_admin():
        return
    password = secrets.token_urlsafe(15)
    name = first_admin_name()
    admin = User(name=name, role=ADMIN)
    admin.set_password(password)
    db.session.add(admin)
    record("admin_created", name, "first admin, created by init")
    db.session.commit()
    show_secret(
        f"created admin {name!r} for the web UI at /admin; "
        "password (shown only this once):",
        password,
        inline=True,
        label=f"admin {name!r}, password",
    )


@admins_cli.command("create")
@click.argument("name")
@click.option(
    "--password", default=None, help="The password (prompted for if omitted)."
)
def admins_create(name: str, password: str | None) -> None:
    """Create an admin who can log in to the web UI (or make a user one)."""
    name = name.strip()
    if not name or len(name) > 80:
        raise click.ClickException("the name must have 1 to 80 characters")
    admin = find_user(name)
    if admin is not None and admin.role == ADMIN:
        raise click.ClickException(f"admin {name!r} already exists")
    if admin is None:
        admin = User(name=name)
        db.session.add(admin)
    admin.role = ADMIN  # an existing user (one with keys) becomes an admin
    admin.set_password(read_password(password))
    record("admin_created", name)
    db.session.commit()
    click.echo(f"created admin {name!r}")


@admins_cli.command("list")
def admins_list() -> None:
    """List admins with their last login."""
    query = db.select(User).where(User.role == ADMIN).order_by(User.name)
    for admin in db.session.execute(query).scalars():
        last = f"{admin.last_login_at:%Y-%m-%d %H:%M}" if admin.last_login_at else "-"
        click.echo(
            f"{printable(admin.name)}\tcreated={admin.created_at:%Y-%m-%d}\tlast_login={last}"
        )


@admins_cli.command("delete")
@click.argument("name")
@click.confirmation_option(prompt="Delete this admin?")
def admins_delete(name: str) -> None:
    """Remove an admin; their sessions end at once (one with keys stays a member)."""
    remove_admin(get_admin(name))
    db.session.commit()
    click.echo(f"deleted admin {name!r}")


@admins_cli.command("set-password")
@click.argument("name")
@click.option(
    "--password", default=None, help="The new password (prompted for if omitted)."
)
def admins_set_password(name: str, password: str | None) -> None:
    """Set an admin's password; their open sessions end."""
    admin = get_admin(name)
    admin.set_password(read_password(password))
    record("password_changed", name)
    db.session.commit()
    click.echo(f"password of {name!r} changed")


@click.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option(
    "--user", "user_name", required=True, help="Owner of the keys (created if missing)."
)
@click.option("--name", default="imported", help="A label for the imported keys.")
@click.option(
    "--allow-short",
    is_flag=True,
    help=f"Accept keys shorter than {MIN_IMPORTED_KEY} characters.",
)
@with_appcontext
def keys_import(file, user_name: str, name: str, allow_short: bool) -> None:
    """Import plain keys from FILE (one per line, '#' comments); store them hashed."""
    user = db.session.execute(
        db.select(User).where(User.name == user_name)
    ).scalar_one_or_none()
    if user is None:
        user = User(name=user_name)
        db.session.add(user)
        click.echo(f"created user {user_name!r}")
    seen: set[str] = set()
    added = skipped = 0
    for lineno, line in enumerate(file, 1):
        plain = line.strip()
        if not plain or plain.startswith("#"):
            continue
        problem = _import_problem(plain, allow_short, seen)
        if problem:
            click.echo(f"line {lineno}: skipped, {problem}", err=True)
            skipped += 1
            continue
        seen.add(hash_key(plain))
        create_key(user, name=name, plain=plain)
        added += 1
    record("keys_imported", user_name, f"{added} added, {skipped} skipped")
    db.session.commit()
    click.echo(f"imported {added} key(s) for {user_name!r}, skipped {skipped}")


def _import_problem(plain: str, allow_short: bool, seen: set[str]) -> str | None:
    """Why ``plain`` cannot be imported, or None (never echoes the key itself)."""
    if any(ch.isspace() or not ch.isprintable() for ch in plain) or not plain.isascii():
        return "not a single printable ASCII token"
    if len(plain) < MIN_IMPORTED_KEY and not allow_short:
        return f"shorter than {MIN_IMPORTED_KEY} characters (--allow-short to accept)"
    digest = hash_key(plain)
    if (
        digest in seen
        or db.session.execute(
            db.select(ApiKey.id).where(ApiKey.key_hash == digest)
        ).first()
    ):
        return "already stored"
    return None
