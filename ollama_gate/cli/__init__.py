"""Command line: ``flask --app ollama_gate init | users ... | keys ... | ...``.

This package only collects: the core commands live in ``users`` and ``keys`` here,
and every feature package owns its own (``limits/cli.py``, ``history/cli.py``,
``admin/cli.py``, ``routing/cli.py``, ``cache/cli.py``, ``events/cli.py``); the
lookups they share are in ``ollama_gate/lookups.py``.
"""

from __future__ import annotations

from flask import Flask

from ..admin.cli import admins_cli, keys_import
from ..cache.cli import cache_cli
from ..endusers.cli import endusers_cli
from ..events.cli import events_cli, hooks_cli
from ..history.cli import history_cli
from ..limits.cli import keys_set, keys_usage
from ..routing.cli import aliases_cli, backends_cli
from ..scheduler.cli import models_cli
from .accounts import users_invite, users_password
from .guard import guard_command
from .keys import keys_cli
from .teams import teams_cli
from .users import init_command, users_cli


def register(app: Flask) -> None:
    """Attach every package's commands to ``app``, each guarded against a database
    that was never initialised (``guard.py``)."""
    keys_cli.add_command(keys_set)  # limits own ``keys set`` and ``keys usage``
    keys_cli.add_command(keys_usage)
    keys_cli.add_command(keys_import)  # the admin package owns ``keys import``
    users_cli.add_command(users_invite)
    users_cli.add_command(users_password)
    for command in (
        init_command,
        users_cli,
        teams_cli,
        keys_cli,
        endusers_cli,
        admins_cli,
        history_cli,
        backends_cli,
        aliases_cli,
        models_cli,
        cache_cli,
        hooks_cli,
        events_cli,
    ):
        app.cli.add_command(guard_command(command))  # a group's: all under it
