"""Flask extensions, created unbound here and initialised in ``create_app``."""

import click
from flask import request
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase

from .remote import client_of


class Base(DeclarativeBase):
    """Declarative base for every model of the gateway."""


class LazyMigrate:
    """Flask-Migrate, imported when first used: by the ``flask db`` commands, ``init``
    and the tests. Alembic, Mako and Pygments come with it, about 11 MB of every
    serving worker, which never migrates (bench/, issue 18). Until then each app gets
    a ``db`` command group that binds it on use; any other attribute is the real
    ``Migrate``'s."""

    def __init__(self):
        self._real = None

    def init_app(self, app, db, **kwargs) -> None:
        """Bind ``app`` now if Flask-Migrate is in use already, else on first use."""
        if self._real is not None:
            self._real.init_app(app, db, **kwargs)
            return
        app.extensions["migrate"] = _Unbound(self, app, db, kwargs)
        app.cli.add_command(_LazyDbGroup(app.extensions["migrate"]), name="db")

    def real(self):
        """The real ``Migrate`` (imported and made on the first call)."""
        if self._real is None:
            from flask_migrate import Migrate

            self._real = Migrate()
        return self._real

    def __getattr__(self, name: str):
        real = self.real()
        from flask import current_app, has_app_context

        if has_app_context():  # the app in use is bound first (its directory, ...)
            pending = current_app.extensions.get("migrate")
            if isinstance(pending, _Unbound):
                pending.bind()
        return getattr(real, name)


class _Unbound:
    """Stands for Flask-Migrate's config in ``app.extensions`` until it is used."""

    def __init__(self, lazy: LazyMigrate, app, db, kwargs: dict):
        self.lazy, self.app, self.db, self.kwargs = lazy, app, db, kwargs

    def bind(self):
        """Bind the app to the real ``Migrate``; its config replaces this one."""
        if self.app.extensions.get("migrate") is self:
            self.lazy.real().init_app(self.app, self.db, **self.kwargs)
        return self.app.extensions["migrate"]

    def __getattr__(self, name: str):
        return getattr(self.bind(), name)


class _LazyDbGroup(click.Group):
    """Flask-Migrate's ``db`` group, imported when a ``db`` command is looked up."""

    def __init__(self, unbound: _Unbound):
        super().__init__("db", help="Perform database migrations.")
        self.unbound = unbound

    def _group(self) -> click.Group:
        self.unbound.bind()
        from flask_migrate.cli import db as group

        return group

    def make_context(self, info_name, args, parent=None, **extra):
        """The real group parses and runs the command line (its options, its
        callback)."""
        return self._group().make_context(info_name, args, parent=parent, **extra)

    def list_commands(self, ctx) -> list[str]:
        return self._group().list_commands(ctx)

    def get_command(self, ctx, name: str):
        return self._group().get_command(ctx, name)


db = SQLAlchemy(model_class=Base)
# schema migrations (Alembic scripts in the top-level migrations/ folder)
migrate = LazyMigrate()
# admin sessions (Flask-Login): admin pages only; the API authenticates by key alone
login_manager = LoginManager()
# CSRF on every form; the key-authenticated API blueprints are exempted where registered
csrf = CSRFProtect()


def client_address() -> str:
    """The current request's client address (``remote.py`` decides it)."""
    return client_of(request.environ).address


# per-client limits (admin login, the self-service page) and the per-key limits
limiter = Limiter(key_func=client_address)
