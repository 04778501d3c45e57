"""The end users migration (e3b91d7c5a28) keeps every row, up and down."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from ollama_gate.extensions import db, migrate
from ollama_gate.schema import upgrade_database
from tests.core.test_schema import BOTH, new_app  # noqa: F401 (the fixture)
from tests.helpers.release_db import build_release_database, rows

BEFORE_END_USERS = "e83b5d1c9a47"


@BOTH
def test_end_users_migration_keeps_every_row_up_and_down(new_app):  # noqa: F811
    app = new_app()
    with app.app_context():
        build_release_database(db.engine)
        before = rows(db.engine)
        upgrade_database()
        assert rows(db.engine) == before
        inspector = sa.inspect(db.engine)
        assert {"end_users", "end_user_usage"} <= set(inspector.get_table_names())
        history = {c["name"] for c in inspector.get_columns("history_requests")}
        assert {"end_user_id", "end_user_name", "task"} <= history
        with db.engine.connect() as conn:
            apps = conn.execute(sa.text("SELECT app FROM api_keys")).scalars().all()
        assert apps and not any(apps)  # every existing key: not an app key
        with db.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO end_users (key_id, user_id, external_id, name, email,"
                    " role, first_seen, last_seen, calls_per_day) VALUES (1, 1, 'u1',"
                    " 'A', '', '', '2026-12-07 00:00:00', '2026-12-07 00:00:00', 3)"
                )
            )
            conn.execute(sa.text("UPDATE history_requests SET end_user_id = 1"))
        config = migrate.get_config()
        command.downgrade(config, BEFORE_END_USERS)
        assert rows(db.engine) == before  # every user, key, usage and history row
        assert "end_users" not in sa.inspect(db.engine).get_table_names()
        command.upgrade(config, "head")
        assert rows(db.engine) == before
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM end_users")).scalar() == 0
