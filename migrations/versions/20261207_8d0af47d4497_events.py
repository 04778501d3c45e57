"""events, hooks and deliveries: the event log and its webhooks.

Revision ID: 8d0af47d4497
Revises: 6a1c9e2f4b70
Create Date: 2026-12-07 15:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "8d0af47d4497"
down_revision = "c41f7a9e2d35"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the three tables (new: no row to keep)."""
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("dedupe", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe"),
    )
    with op.batch_alter_table("events") as batch:
        batch.create_index("ix_events_at", ["at"])
        batch.create_index("ix_events_kind", ["kind"])
        batch.create_index("ix_events_subject", ["subject"])
    op.create_table(
        "hooks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("kinds", sa.String(length=500), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("hook_id", sa.Integer(), nullable=True),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("next_at", sa.DateTime(), nullable=False),
        sa.Column("claimed_by", sa.String(length=40), nullable=True),
        sa.Column("claimed_until", sa.DateTime(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=True),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["hook_id"], ["hooks.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id", "hook_id", "attempt"),
    )
    with op.batch_alter_table("deliveries") as batch:
        batch.create_index("ix_deliveries_due", ["done", "next_at"])
        batch.create_index("ix_deliveries_event_id", ["event_id"])
        batch.create_index("ix_deliveries_hook_id", ["hook_id"])


def downgrade() -> None:
    """Drop the three tables."""
    op.drop_table("deliveries")
    op.drop_table("hooks")
    op.drop_table("events")
