"""Command line: ``flask --app ollama_gate init | users ... | keys ... | ...``.

This package only collects: the core commands live in ``users`` and ``keys`` here,
and every feature package owns its own (``limits/cli.py``, ``history/cli.py``,
``admin/cli.py``, ``routing/cli.py``, ``cache/cli.py``); the lookups they share are in
``ollama_gate/lookups.py``.
"""

from __future__ import annotations

from flask import Flask

from ..admin.cli import admins_cli, keys_import
from ..cache.cli import cache_cli
from ..history.cli import history_cli
from ..limits.cli import keys_set, keys_usage
from ..routing.cli import aliases_cli, backends_cli
from ..scheduler.cli import models_cli
from .keys import keys_cli
from .users import init_command, users_cli


def register(app: Flask) -> None:
    """Attach every package's commands to ``app``."""
    app.cli.add_command(init_command)
    app.cli.add_command(users_cli)
    app.cli.add_command(keys_cli)
    keys_cli.add_command(keys_set)  # limits own ``keys set`` and ``keys usage``
    keys_cli.add_command(keys_usage)
    keys_cli.add_command(keys_import)  # the admin package owns ``keys import``
    app.cli.add_command(admins_cli)
    app.cli.add_command(history_cli)
    app.cli.add_command(backends_cli)
    app.cli.add_command(aliases_cli)
    app.cli.add_command(models_cli)
    app.cli.add_command(cache_cli)
