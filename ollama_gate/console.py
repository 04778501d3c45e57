"""The ``ollama-gate`` command: ``serve``, and the app's own commands (``init``,
``users``, ``keys``, ``backends``, ``models``, ``cache``, ``history``, ``db``...) with
their help, without Flask's development server, ``shell`` or ``routes``.

The app's commands are the ones ``flask --app ollama_gate`` runs (Flask's
``FlaskGroup`` builds the app to find them); ``serve`` builds nothing here: it
becomes gunicorn, with the package's settings (``server/gunicorn_conf.py``).
"""

from __future__ import annotations

import os
import sys

import click
from flask.cli import FlaskGroup

from .envfile import load_env_file

HELP = """An authenticating, limiting, recording gateway in front of Ollama servers.

\b
First run:  ollama-gate init     (database, first admin, first user and key)
Then:       ollama-gate serve    (the gateway, under gunicorn)

Settings come from the environment, then from .env in the working directory (or
the file OLLAMA_GATE_ENV_FILE names): the server and every command read the same.
"""
CONFIG = "python:ollama_gate.server.gunicorn_conf"
APP = "ollama_gate.server.wsgi:build()"


def build_app():
    """The app whose commands the group runs (``create_app``, imported late)."""
    from . import create_app

    return create_app()


def version() -> str:
    """The installed distribution's version, or ``checkout`` when run from one."""
    from importlib import metadata

    try:
        return metadata.version("ollama-gate")
    except metadata.PackageNotFoundError:
        return "checkout"


def prepare_first_run() -> dict:
    """``init`` (its secrets kept for the block) and the backends with their
    models, for the first-run block."""
    from .cli.users import init_command
    from .routing.status import fleet_status
    from .secrets_out import SHOWN

    app = build_app()
    with app.app_context():
        click.get_current_context().invoke(init_command, ask=False)
        backends = [
            {k: row[k] for k in ("name", "url", "state", "models")}
            for row in fleet_status(app, check=True)
        ]
    return {"secrets": SHOWN, "backends": backends}


@click.command(
    "serve",
    context_settings={"ignore_unknown_options": True},
)
@click.option(
    "--init",
    "run_init",
    is_flag=True,
    help="Run init first; the block printed once the server is up then shows the "
    "backends and their models, and on a fresh install the admin's password and "
    "the first key.",
)
@click.argument("gunicorn_args", nargs=-1, type=click.UNPROCESSED)
def serve(run_init: bool, gunicorn_args: tuple[str, ...]) -> None:
    """Serve the gateway under gunicorn with gevent workers.

    Bind address, port, workers and timeouts come from the settings
    (OLLAMA_GATE_HOST, PORT, WEB_CONCURRENCY, ...); any extra arguments go to
    gunicorn as they are (e.g. --bind 127.0.0.1:9000). Run `init` first, or
    give --init.
    """
    load_env_file()  # a missing OLLAMA_GATE_ENV_FILE fails here, not in gunicorn
    if run_init:
        from .server.first_run import hand_over

        hand_over(prepare_first_run())
    argv = [sys.executable, "-m", "gunicorn", "-c", CONFIG, *gunicorn_args, APP]
    sys.stdout.flush()
    # gunicorn takes over this process: signals (Ctrl-C, SIGTERM, HUP) and the PID
    # systemd watches are its own
    os.execv(sys.executable, argv)


cli = FlaskGroup(
    name="ollama-gate",
    help=HELP,
    create_app=build_app,
    add_default_commands=False,  # no `run` (the development server), shell, routes
    add_version_option=False,
    load_dotenv=False,  # the app reads .env (or OLLAMA_GATE_ENV_FILE) itself
    set_debug_flag=False,
    context_settings={"auto_envvar_prefix": None},  # options only as typed
)
# Flask's --app, --debug and --env-file options have no use here
cli.params = [p for p in cli.params if p.name not in ("app", "debug", "env_file")]
cli.params.append(
    click.Option(
        ["--version"],
        is_flag=True,
        expose_value=False,
        is_eager=True,
        help="Show the version and exit.",
        callback=lambda ctx, _param, value: (
            value and (click.echo(f"ollama-gate {version()}"), ctx.exit())
        ),
    )
)
cli.add_command(serve)


def main() -> None:
    """The console script's entry point."""
    cli.main(prog_name="ollama-gate")
