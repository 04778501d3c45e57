"""What the commands of every package look up: a user by name, a key by prefix, a date.

Outside ``ollama_gate/cli/`` on purpose: that package imports every package's
commands, and those commands import these lookups (importing a module inside
``cli/`` would run ``cli/__init__.py`` first, a circle). Imports models only.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

import click

from .extensions import db
from .models import ApiKey, User


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
