"""The portal policy migration (4e8b1f6a3c92) keeps every row, up and down."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from ollama_gate.extensions import db, migrate
from ollama_gate.schema import upgrade_database
from tests.core.test_schema import BOTH, new_app  # noqa: F401 (the fixture)
from tests.helpers.release_db import build_release_database, rows

BEFORE = "2c7e4a9d1b58"  # the accounts migration
COLUMNS = {
    "portal_max_keys",
    "portal_max_days",
    "portal_expiry_required",
    "portal_models",
}


@BOTH
def test_portal_policy_migration_keeps_every_row_up_and_down(new_app):  # noqa: F811
    app = new_app()
    with app.app_context():
        build_release_database(db.engine)
        before = rows(db.engine)
        upgrade_database()
        assert rows(db.engine) == before
        names = {c["name"] for c in sa.inspect(db.engine).get_columns("teams")}
        assert names >= COLUMNS
        with db.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO teams (id, name, created_at, calls_per_day, "
                    "portal_max_keys, portal_models) "
                    "VALUES (1, 'ml', '2026-12-07 00:00:00', 5, 3, 'llama3*')"
                )
            )
        config = migrate.get_config()
        command.downgrade(config, BEFORE)
        assert rows(db.engine) == before
        names = {c["name"] for c in sa.inspect(db.engine).get_columns("teams")}
        assert not names & COLUMNS
        with db.engine.connect() as conn:  # the team kept, with its other settings
            assert conn.execute(
                sa.text("SELECT name, calls_per_day FROM teams")
            ).all() == [("ml", 5)]
        command.upgrade(config, "head")
        assert rows(db.engine) == before
        with db.engine.connect() as conn:  # back, unset
            assert conn.execute(
                sa.text("SELECT portal_max_keys, portal_models FROM teams")
            ).all() == [(None, None)]
