"""teams, users.team_id, and the per-subject settings columns on users and teams.

Revision ID: c41f7a9e2d35
Revises: 6a1c9e2f4b70
Create Date: 2026-12-07 15:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "c41f7a9e2d35"
down_revision = "6a1c9e2f4b70"
branch_labels = None
depends_on = None


def settings_columns() -> list[sa.Column]:
    """The settings columns as subject_settings.TABLE had them at this revision
    (written out: a later row gets its own migration)."""
    return [
        sa.Column("history_mode", sa.String(10), nullable=True),
        sa.Column("rate_limit", sa.String(200), nullable=True),
        sa.Column("calls_per_day", sa.Integer(), nullable=True),
        sa.Column("tokens_per_day", sa.Integer(), nullable=True),
        sa.Column("calls_per_month", sa.Integer(), nullable=True),
        sa.Column("tokens_per_month", sa.Integer(), nullable=True),
        sa.Column("model_allowlist", sa.Text(), nullable=True),
        sa.Column("scopes", sa.String(200), nullable=True),
        sa.Column("max_concurrency", sa.Integer(), nullable=True),
        sa.Column("queue_weight", sa.Integer(), nullable=True),
    ]


def upgrade() -> None:
    """Add teams; users get a team and the settings columns (all NULL: unset)."""
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(120), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        *settings_columns(),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("team_id", sa.Integer(), nullable=True))
        for column in settings_columns():
            batch.add_column(column)
        batch.create_index("ix_users_team_id", ["team_id"])
        batch.create_foreign_key(
            "fk_users_team_id_teams", "teams", ["team_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    """Drop users' team and settings columns, and teams."""
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("fk_users_team_id_teams", type_="foreignkey")
        batch.drop_index("ix_users_team_id")
        for column in reversed(settings_columns()):
            batch.drop_column(column.name)
        batch.drop_column("team_id")
    op.drop_table("teams")
