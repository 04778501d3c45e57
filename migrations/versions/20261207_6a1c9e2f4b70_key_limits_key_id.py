"""api_keys.limits_key_id: a rotated key's secrets share one set of limit counters.

Revision ID: 6a1c9e2f4b70
Revises: d5a8c1f3e962
Create Date: 2026-12-07 12:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "6a1c9e2f4b70"
down_revision = "d5a8c1f3e962"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add api_keys.limits_key_id (NULL: the key counts on its own id), indexed."""
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("limits_key_id", sa.Integer(), nullable=True))
        batch.create_index("ix_api_keys_limits_key_id", ["limits_key_id"])


def downgrade() -> None:
    """Drop api_keys.limits_key_id."""
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_index("ix_api_keys_limits_key_id")
        batch.drop_column("limits_key_id")
