"""The portal's team policy: most keys per person, longest expiry, whether an
expiry is required, the models members may pick (columns on teams).

Revision ID: 4e8b1f6a3c92
Revises: 2c7e4a9d1b58
Create Date: 2026-12-07 19:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "4e8b1f6a3c92"
down_revision = "2c7e4a9d1b58"
branch_labels = None
depends_on = None


def columns() -> list[sa.Column]:
    """The rows of subject_rows/portal_rows.py at this revision, all NULL (unset:
    the gateway's default of keys per person, no other bound)."""
    return [
        sa.Column("portal_max_keys", sa.Integer(), nullable=True),
        sa.Column("portal_max_days", sa.Integer(), nullable=True),
        sa.Column("portal_expiry_required", sa.Boolean(), nullable=True),
        sa.Column("portal_models", sa.Text(), nullable=True),
    ]


def upgrade() -> None:
    """Add the columns to teams."""
    with op.batch_alter_table("teams") as batch:
        for column in columns():
            batch.add_column(column)


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("teams") as batch:
        for column in reversed(columns()):
            batch.drop_column(column.name)
