"""Queue priority bands and admission caps: priority, queue_max and
loading_progress on api_keys, users, teams and end_users.

Revision ID: 7b2e9d4c1a63
Revises: e3b91d7c5a28
Create Date: 2026-12-07 17:05:00
"""

import sqlalchemy as sa
from alembic import op

revision = "7b2e9d4c1a63"
down_revision = "e3b91d7c5a28"
branch_labels = None
depends_on = None

TABLES = ("api_keys", "users", "teams", "end_users")


def columns() -> list[sa.Column]:
    """The new rows' columns (all NULL: unset, so every subject keeps today's
    behaviour: interactive, the gateway's bounds, no progress lines)."""
    return [
        sa.Column("priority", sa.String(12), nullable=True),
        sa.Column("queue_max", sa.Integer(), nullable=True),
        sa.Column("loading_progress", sa.Boolean(), nullable=True),
    ]


def upgrade() -> None:
    """Add the columns."""
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            for column in columns():
                batch.add_column(column)


def downgrade() -> None:
    """Drop them."""
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            for column in reversed(columns()):
                batch.drop_column(column.name)
