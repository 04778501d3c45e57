"""The fleet: backends, model routes and aliases.

Revision ID: 5e0b7c4a9d21
Revises: 1df09f7be2e7
Create Date: 2026-12-02 03:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "5e0b7c4a9d21"
down_revision = "1df09f7be2e7"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the backends, model_routes and model_aliases tables."""
    op.create_table(
        "backends",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=300), nullable=False),
        sa.Column("token", sa.Text(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("parallel", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "model_routes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("backend", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("model", "backend"),
    )
    op.create_index(op.f("ix_model_routes_model"), "model_routes", ["model"])
    op.create_table(
        "model_aliases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )


def downgrade() -> None:
    """Drop the fleet's tables."""
    op.drop_table("model_aliases")
    op.drop_index(op.f("ix_model_routes_model"), table_name="model_routes")
    op.drop_table("model_routes")
    op.drop_table("backends")
