"""Alembic environment: the app's engine and models, batch mode for SQLite.

Run through Flask-Migrate (``flask --app ollama_gate db ...``) or
``ollama_gate.schema.upgrade_database`` (``init``), both inside an app context.
"""

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app
from sqlalchemy import text

config = context.config
# the command line gets alembic.ini's logging; an app or a test runner that has
# already configured logging keeps its own (fileConfig would replace its handlers)
if config.config_file_name is not None and not logging.getLogger().handlers:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

gate = current_app.extensions["migrate"]
target_metadata = gate.db.metadata


def run_migrations_offline() -> None:
    """Print the SQL (``db upgrade --sql``) instead of running it."""
    url = gate.db.engine.url.render_as_string(hide_password=False)
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        **gate.configure_args,
    )
    with context.begin_transaction():
        context.run_migrations()


def skip_empty_autogenerate(_context, _revision, directives) -> None:
    """``db migrate`` with no model change writes no empty revision."""
    if getattr(config.cmd_opts, "autogenerate", False):
        if directives[0].upgrade_ops.is_empty():
            directives[:] = []
            logger.info("No changes in schema detected.")


def run_migrations_online() -> None:
    """Run the migrations on one connection of the app's engine."""
    conf_args = dict(gate.configure_args)
    conf_args.setdefault("process_revision_directives", skip_empty_autogenerate)
    with gate.db.engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # batch mode copies a table and drops the old one; with foreign keys on,
            # SQLite's DROP TABLE deletes the rows first and so cascades to every
            # referencing row (a key's usage, a user's keys). The pragma is a no-op
            # inside a transaction, so it is set before the migration's transaction.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            context.configure(
                connection=connection, target_metadata=target_metadata, **conf_args
            )
            with context.begin_transaction():
                context.run_migrations()
                if sqlite:
                    broken = connection.execute(text("PRAGMA foreign_key_check"))
                    if broken.first() is not None:
                        raise RuntimeError("the migration broke a foreign key")
        finally:
            if sqlite:  # the pooled connection goes back as the app opened it
                connection.rollback()  # a failed step's leftovers; done steps are kept
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
