"""api_keys.queue_weight: a key's share of backend slots when calls wait.

Revision ID: b7e4a2c9d013
Revises: 39416f4c6e16
Create Date: 2026-12-02 03:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "b7e4a2c9d013"
down_revision = "39416f4c6e16"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add api_keys.queue_weight (NULL: a weight of 1)."""
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("queue_weight", sa.Integer(), nullable=True))


def downgrade() -> None:
    """Drop api_keys.queue_weight."""
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("queue_weight")
