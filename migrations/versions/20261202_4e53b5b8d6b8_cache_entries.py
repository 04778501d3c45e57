"""cache: the cached answers and the hit and miss counters

Revision ID: 4e53b5b8d6b8
Revises: 8c2d5f1e7a30
Create Date: 2026-12-02 02:55:00
"""

import sqlalchemy as sa
from alembic import op

revision = "4e53b5b8d6b8"
down_revision = "8c2d5f1e7a30"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the cache's two tables."""
    _entries()
    op.create_table(
        "cache_counters",
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def _entries() -> None:
    op.create_table(
        "cache_entries",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("endpoint", sa.String(length=40), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("cache_entries") as batch:
        batch.create_index("ix_cache_entries_created_at", ["created_at"])
        batch.create_index("ix_cache_entries_expires_at", ["expires_at"])


def downgrade() -> None:
    """Drop them (the cache is only a cache: nothing is lost)."""
    op.drop_table("cache_counters")
    with op.batch_alter_table("cache_entries") as batch:
        batch.drop_index("ix_cache_entries_expires_at")
        batch.drop_index("ix_cache_entries_created_at")
    op.drop_table("cache_entries")
