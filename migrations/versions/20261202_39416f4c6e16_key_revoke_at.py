"""api_keys.revoke_at (a rotated key works until its grace period ends),
api_keys.networks (trusted networks whose calls without a key act as the key) and
failed_key_counts (refused key attempts per hour, for the dashboard).

Revision ID: 39416f4c6e16
Revises: 4e53b5b8d6b8
Create Date: 2026-12-02 02:35:00
"""

import sqlalchemy as sa
from alembic import op

revision = "39416f4c6e16"
down_revision = "4e53b5b8d6b8"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add api_keys.revoke_at and .networks (NULL: none), and failed_key_counts."""
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("revoke_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("networks", sa.Text(), nullable=True))
    op.create_table(
        "failed_key_counts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hour", sa.String(length=13), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("hour", "status"),
    )


def downgrade() -> None:
    """Drop failed_key_counts, api_keys.networks and api_keys.revoke_at."""
    op.drop_table("failed_key_counts")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("networks")
        batch.drop_column("revoke_at")
