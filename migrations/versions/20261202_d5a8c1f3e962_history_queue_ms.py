"""history_requests.queue_ms: how long a call waited in the gateway's queue.

Revision ID: d5a8c1f3e962
Revises: b7e4a2c9d013
Create Date: 2026-12-02 04:05:00
"""

import sqlalchemy as sa
from alembic import op

revision = "d5a8c1f3e962"
down_revision = "b7e4a2c9d013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add history_requests.queue_ms (NULL: the call did not wait)."""
    with op.batch_alter_table("history_requests") as batch:
        batch.add_column(sa.Column("queue_ms", sa.Double(), nullable=True))


def downgrade() -> None:
    """Drop history_requests.queue_ms."""
    with op.batch_alter_table("history_requests") as batch:
        batch.drop_column("queue_ms")
