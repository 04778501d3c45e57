"""Budgets: tokens_per_week, budget_warn_percent and budget_shadow on api_keys, users
and teams; key_usage.period wide enough for a period in a named time zone.

Revision ID: f3c5fe21cfbe
Revises: c41f7a9e2d35
Create Date: 2026-12-07 16:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "f3c5fe21cfbe"
down_revision = "8d0af47d4497"
branch_labels = None
depends_on = None

TABLES = ("api_keys", "users", "teams")


def columns() -> list[sa.Column]:
    """The budget rows' columns (all NULL: unset)."""
    return [
        sa.Column("tokens_per_week", sa.Integer(), nullable=True),
        sa.Column("budget_warn_percent", sa.Integer(), nullable=True),
        sa.Column("budget_shadow", sa.Boolean(), nullable=True),
    ]


def upgrade() -> None:
    """Add the budget columns; widen key_usage.period (``w:2026-W50@Europe/Paris``)."""
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            for column in columns():
                batch.add_column(column)
    with op.batch_alter_table("key_usage") as batch:
        batch.alter_column("period", existing_type=sa.String(12), type_=sa.String(64))


def downgrade() -> None:
    """Drop the budget columns. key_usage.period stays wide: a row named in a time
    zone would not fit 12 characters, and every row is kept."""
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            for column in reversed(columns()):
                batch.drop_column(column.name)
