"""Per-model policy: num_ctx, keep_alive, warm copies.

Revision ID: 8c2d5f1e7a30
Revises: 5e0b7c4a9d21
Create Date: 2026-12-02 03:05:00
"""

import sqlalchemy as sa
from alembic import op

revision = "8c2d5f1e7a30"
down_revision = "5e0b7c4a9d21"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the model_policies table."""
    op.create_table(
        "model_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("num_ctx", sa.Integer(), nullable=True),
        sa.Column("num_ctx_enforced", sa.Boolean(), nullable=False),
        sa.Column("keep_alive", sa.String(length=40), nullable=True),
        sa.Column("keep_alive_enforced", sa.Boolean(), nullable=False),
        sa.Column("warm", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("model"),
    )


def downgrade() -> None:
    """Drop the model_policies table."""
    op.drop_table("model_policies")
