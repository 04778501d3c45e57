"""backends.max_loaded: the models a backend holds loaded at once (swap order).

Revision ID: 8a18f3839906
Revises: 6a1c9e2f4b70
Create Date: 2026-12-07 15:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "8a18f3839906"
down_revision = "f3c5fe21cfbe"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add backends.max_loaded (NULL: learned from /api/ps, or no cap)."""
    with op.batch_alter_table("backends") as batch:
        batch.add_column(sa.Column("max_loaded", sa.Integer(), nullable=True))


def downgrade() -> None:
    """Drop backends.max_loaded."""
    with op.batch_alter_table("backends") as batch:
        batch.drop_column("max_loaded")
