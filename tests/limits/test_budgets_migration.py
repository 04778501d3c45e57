"""The budgets migration (f3c5fe21cfbe) keeps every row, up and down; a period named
in a time zone fits the widened key_usage.period."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from ollama_gate.extensions import db, migrate
from ollama_gate.schema import upgrade_database
from tests.core.test_schema import BOTH, new_app  # noqa: F401 (the fixture)
from tests.helpers.release_db import build_release_database, rows

BEFORE_BUDGETS = "8d0af47d4497"
ZONED = "w:2026-W50@America/Argentina/ComodRivadavia"  # a long zone name


@BOTH
def test_budgets_migration_keeps_every_row_up_and_down(new_app):  # noqa: F811
    app = new_app()
    with app.app_context():
        build_release_database(db.engine)
        before = rows(db.engine)
        upgrade_database()
        assert rows(db.engine) == before
        inspector = sa.inspect(db.engine)
        for table in ("api_keys", "users", "teams"):
            names = {c["name"] for c in inspector.get_columns(table)}
            assert {"tokens_per_week", "budget_warn_percent", "budget_shadow"} <= names
        with db.engine.begin() as conn:
            key_id = conn.execute(sa.text("SELECT min(id) FROM api_keys")).scalar()
            conn.execute(
                sa.text(
                    "UPDATE api_keys SET tokens_per_week = 70, budget_shadow = :on, "
                    "budget_warn_percent = 80"
                ),
                {"on": True},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO key_usage (key_id, period, calls, tokens) "
                    "VALUES (:k, :p, 1, 2)"
                ),
                {"k": key_id, "p": ZONED},
            )
        config = migrate.get_config()
        command.downgrade(config, BEFORE_BUDGETS)
        after_down = rows(db.engine)
        names = {c["name"] for c in sa.inspect(db.engine).get_columns("api_keys")}
        assert "tokens_per_week" not in names
        with db.engine.connect() as conn:  # the zoned row is kept, whole
            assert conn.execute(
                sa.text("SELECT calls, tokens FROM key_usage WHERE period = :p"),
                {"p": ZONED},
            ).one() == (1, 2)
        command.upgrade(config, "head")
        assert rows(db.engine) == after_down
        before_usage = {r for r in before["key_usage"]}
        assert before_usage <= set(rows(db.engine)["key_usage"])
