"""The database schema is Alembic's: ``upgrade_database`` brings any database to the
newest revision in ``migrations/versions/`` (``init`` and the Procfile's ``release``).

Every change to a table (a model's column, index or constraint) ships a migration in
the same commit; ``tests/core/test_schema.py`` fails when the models and the migrations
disagree. Autogenerate compares the models with a database at the newest revision:

    flask --app ollama_gate init                                 # the dev database
    flask --app ollama_gate db migrate -m "keys: add a note"     # autogenerate
    # review the new file in migrations/versions/: names, a server default for a
    # NOT NULL column added to a table with rows, data to carry over, downgrade
    flask --app ollama_gate db upgrade                           # or: init again
    git add migrations/versions/<the new file>

Revisions run on SQLite and PostgreSQL alike (the tests run both); on SQLite they
run in batch mode (copy the table, move the rows, swap), so a column can be altered
or dropped there too. The baseline revision and ``tests/helpers/release_db.py`` describe
what the last release before migrations made: never edit them.
"""

from __future__ import annotations

import click
import sqlalchemy as sa

from .extensions import db, migrate

# Alembic is imported where it is used: the serving worker imports this module (with
# the CLI commands) but never migrates, and Alembic with Mako and Pygments costs it
# about 11 MB (extensions.LazyMigrate).

# the first revision: the schema the last release before migrations made
BASELINE = "1df09f7be2e7"


def upgrade_database(directory: str | None = None) -> str:
    """Bring the app's database to the newest revision; say what was done.

    Empty: every migration runs. Made by the release before migrations (its tables,
    no ``alembic_version``): stamped at the baseline, then upgraded. Migrated: the
    missing revisions run. Needs an app context.
    """
    from alembic import command

    config = migrate.get_config(directory)
    with db.engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
    if "alembic_version" in tables:
        how = "upgraded"
    elif has_every_model_column(tables):
        # made by ``create_all`` of these very models (tests, a hand-made database):
        # it is the newest schema already
        command.stamp(config, "head")
        db.engine.dispose()
        return "adopted the existing tables (already the newest schema)"
    elif tables & set(db.metadata.tables):
        check_legacy(config, tables)
        command.stamp(config, BASELINE)
        how = "adopted the existing tables and upgraded"
    else:
        how = "created"
    command.upgrade(config, "head")
    # pooled PostgreSQL connections may hold statements prepared on the old tables
    db.engine.dispose()
    return how


def has_every_model_column(tables: set[str]) -> bool:
    """True when every table and column of the models exists in the database."""
    if not set(db.metadata.tables) <= tables:
        return False
    with db.engine.connect() as conn:
        inspector = sa.inspect(conn)
        return all(
            set(table.columns.keys())
            <= {c["name"] for c in inspector.get_columns(name)}
            for name, table in db.metadata.tables.items()
        )


def check_legacy(config, tables: set[str]) -> None:
    """Refuse to stamp a database that lacks part of the baseline (made by an older
    release, or by hand): later migrations would fail on it or leave gaps."""
    missing = []
    with db.engine.connect() as conn:
        inspector = sa.inspect(conn)
        for table, columns in baseline_columns(config).items():
            if table not in tables:
                missing.append(table)
                continue
            have = {column["name"] for column in inspector.get_columns(table)}
            missing += [f"{table}.{column}" for column in sorted(columns - have)]
    if missing:
        raise click.ClickException(
            "this database predates migrations but lacks what the first migration "
            f"makes: {', '.join(missing)}; add them by hand (see "
            "migrations/versions/*_baseline.py) and run init again"
        )


def baseline_columns(config) -> dict[str, set[str]]:
    """The baseline's tables and their columns, from running it on an empty SQLite
    database in memory."""
    from alembic.migration import MigrationContext
    from alembic.operations import Operations
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(config).get_revision(BASELINE)
    engine = sa.create_engine("sqlite://")
    try:
        with engine.begin() as conn:
            with Operations.context(MigrationContext.configure(conn)):
                script.module.upgrade()
            inspector = sa.inspect(conn)
            return {
                table: {c["name"] for c in inspector.get_columns(table)}
                for table in inspector.get_table_names()
            }
    finally:
        engine.dispose()
