"""The app factory: settings, extensions, the gateway, the pages and the CLI."""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

from .config import SETTINGS, ensure_secret_key, load_settings
from .envfile import load_env_file
from .extensions import csrf, db, limiter, migrate
from .remote import ClientMiddleware, Proxies, parse_header, parse_proxies

SETTING_NAMES = {name for name, *_ in SETTINGS}
# the checkout's migrations/ and templates/, linked into the package so that an
# installed package (pip, pipx, the container) carries them too
HERE = os.path.dirname(os.path.abspath(__file__))
MIGRATIONS = os.path.join(HERE, "migrations")
TEMPLATES = os.path.join(HERE, "templates")


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build the gateway app; ``overrides`` replace settings (by name) or Flask config
    keys."""
    load_env_file()  # .env in the working directory, or OLLAMA_GATE_ENV_FILE
    settings = load_settings()
    flask_config: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        (settings if key in SETTING_NAMES else flask_config)[key] = value
    app = Flask(
        "ollama_gate",  # the package: its static folder
        instance_relative_config=True,
        instance_path=instance_path(settings["INSTANCE_PATH"]),
        template_folder=TEMPLATES,
    )
    private_folder(app.instance_path)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=settings.pop("SQLALCHEMY_DATABASE_URI", None)
        or "sqlite:///" + os.path.join(app.instance_path, "ollama_gate.db"),
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
        SECRET_KEY=settings["SECRET_KEY"],
        ENV_NAME=settings["ENV"],
    )
    app.config.update(flask_config)
    app.config["GATE"] = settings
    private_sqlite_file(app.config["SQLALCHEMY_DATABASE_URI"])
    ensure_secret_key(app.config, app.instance_path)
    logging.getLogger("ollama_gate").setLevel(settings["LOG_LEVEL"].upper())

    register_extensions(app)
    register_blueprints(app)
    register_cli(app)
    from .proxy import skip_app_hooks

    skip_app_hooks(app)  # after every extension has registered its hooks
    # every request's client address, decided once (``remote.py``)
    app.wsgi_app = ClientMiddleware(app.wsgi_app, proxies_of(settings))
    return app


def proxies_of(settings: dict[str, Any]) -> Proxies:
    """The trusted proxies from the settings (an override may be given as text)."""
    networks, header = settings["TRUSTED_PROXIES"], settings["PROXY_HEADER"]
    if not isinstance(networks, list):
        try:
            networks = parse_proxies(str(networks))
        except ValueError as exc:
            raise RuntimeError(f"OLLAMA_GATE_TRUSTED_PROXIES: {exc}") from None
    return Proxies(networks, parse_header(header))


def instance_path(setting: str) -> str:
    """The folder of the SQLite database and the generated secret key: the setting,
    else ``instance/`` in a checkout (as always), else in the working directory (an
    installed package: not inside a virtualenv that an upgrade replaces)."""
    if setting:
        return os.path.abspath(setting)
    checkout = os.path.dirname(HERE)
    if os.path.isfile(os.path.join(checkout, "pyproject.toml")):
        return os.path.join(checkout, "instance")
    return os.path.abspath("instance")


def private_folder(path: str) -> None:
    """The instance folder (database, secret key), readable by its owner only."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    if os.stat(path).st_mode & 0o077:  # made by an older release, or by hand
        os.chmod(path, 0o700)


def private_sqlite_file(uri: str) -> None:
    """A SQLite database file created (or tightened to) 0600 before first use;
    SQLite gives its -wal and -shm files the database file's mode."""
    url = make_url(uri)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    path = url.database
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    elif os.stat(path).st_mode & 0o077:
        os.chmod(path, 0o600)


def register_extensions(app: Flask) -> None:
    """Bind the extensions created in ``extensions.py``."""
    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS, render_as_batch=True)
    csrf.init_app(app)
    from .limits.rates import limiter_settings

    limiter_settings(app)  # Redis or in-memory storage, and the strategy
    limiter.init_app(app)  # one limiter for the admin login and the per-key limits
    from . import attempts

    attempts.init_app(app, limiter.storage)  # guesses counted before they are checked


def register_blueprints(app: Flask) -> None:
    """The proxy (its pipeline of stages is built in ``proxy.stages``), the admin and
    history pages, and JSON or HTML errors."""
    from . import (
        admin,
        cache,
        events,
        history,
        limits,
        metrics,
        oidc,
        ops,
        portal,
        proxy,
        selfserve,
    )
    from .accounts import pages as accounts
    from .endusers import pages as _people  # noqa: F401  (on admin's blueprint)
    from .errors import register_error_handlers
    from .routing import pages  # noqa: F401  (the backends page, on admin's blueprint)

    proxy.init_app(app)
    limits.init_app(app)
    admin.init_app(app)
    accounts.init_app(app)  # the invitation page
    oidc.init_app(app)  # /auth/oidc: sign-in with an identity provider
    history.init_app(app)
    cache.init_app(app)
    ops.init_app(app)  # /healthz, /readyz, request ids
    metrics.init_app(app)  # /metrics
    selfserve.init_app(app)
    portal.init_app(app)  # people's own keys, on the admin's login
    events.init_app(app)  # after proxy: the health loop tells it of backends
    register_error_handlers(app)


def register_cli(app: Flask) -> None:
    """The ``flask --app ollama_gate`` commands."""
    from .cli import register

    register(app)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_conn, _record) -> None:
    """WAL and a busy timeout, so readers never block the history writer on SQLite."""
    if type(dbapi_conn).__module__.startswith("sqlite3"):
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=5000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()
