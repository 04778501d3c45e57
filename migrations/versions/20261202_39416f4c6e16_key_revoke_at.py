"""api_keys.revoke_at: a rotated key works until its grace period ends.

Revision ID: 39416f4c6e16
Revises: 1df09f7be2e7
Create Date: 2026-12-02 02:35:00
"""

import sqlalchemy as sa
from alembic import op

revision = "39416f4c6e16"
down_revision = "1df09f7be2e7"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add api_keys.revoke_at (NULL: no revocation planned)."""
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("revoke_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    """Drop api_keys.revoke_at."""
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("revoke_at")
