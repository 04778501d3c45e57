"""The teams migration (c41f7a9e2d35) keeps every row, up and down."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from ollama_gate.extensions import db, migrate
from ollama_gate.schema import upgrade_database
from tests.core.test_schema import BOTH, new_app  # noqa: F401 (the fixture)
from tests.helpers.release_db import build_release_database, rows

BEFORE_TEAMS = "6a1c9e2f4b70"


@BOTH
def test_teams_migration_keeps_every_row_up_and_down(new_app):  # noqa: F811
    app = new_app()
    with app.app_context():
        build_release_database(db.engine)
        before = rows(db.engine)
        upgrade_database()
        assert rows(db.engine) == before
        inspector = sa.inspect(db.engine)
        assert "teams" in inspector.get_table_names()
        users = {c["name"] for c in inspector.get_columns("users")}
        assert {"team_id", "calls_per_day", "model_allowlist"} <= users
        with db.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO teams (id, name, created_at, calls_per_day) "
                    "VALUES (1, 'ml', '2026-12-07 00:00:00', 5)"
                )
            )
            conn.execute(sa.text("UPDATE users SET team_id = 1, tokens_per_day = 9"))
        config = migrate.get_config()
        command.downgrade(config, BEFORE_TEAMS)
        assert rows(db.engine) == before  # every user, key, usage row kept
        assert "teams" not in sa.inspect(db.engine).get_table_names()
        command.upgrade(config, "head")
        assert rows(db.engine) == before
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM teams")).scalar() == 0
