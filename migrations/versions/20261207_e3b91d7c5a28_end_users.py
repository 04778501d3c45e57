"""end_users, end_user_usage, api_keys.app, and history_requests' end user columns.

Revision ID: e3b91d7c5a28
Revises: e83b5d1c9a47
Create Date: 2026-12-07 16:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "e3b91d7c5a28"
down_revision = "e83b5d1c9a47"
branch_labels = None
depends_on = None


def settings_columns() -> list[sa.Column]:
    """The settings columns as subject_settings.TABLE had them at this revision
    (written out: a later row gets its own migration)."""
    return [
        sa.Column("history_mode", sa.String(10), nullable=True),
        sa.Column("rate_limit", sa.String(200), nullable=True),
        sa.Column("calls_per_day", sa.Integer(), nullable=True),
        sa.Column("tokens_per_day", sa.Integer(), nullable=True),
        sa.Column("calls_per_month", sa.Integer(), nullable=True),
        sa.Column("tokens_per_month", sa.Integer(), nullable=True),
        sa.Column("model_allowlist", sa.Text(), nullable=True),
        sa.Column("scopes", sa.String(200), nullable=True),
        sa.Column("max_concurrency", sa.Integer(), nullable=True),
        sa.Column("queue_weight", sa.Integer(), nullable=True),
        # the budgets' rows (f3c5fe21cfbe, earlier in the chain) apply to end users too
        sa.Column("tokens_per_week", sa.Integer(), nullable=True),
        sa.Column("budget_warn_percent", sa.Integer(), nullable=True),
        sa.Column("budget_shadow", sa.Boolean(), nullable=True),
    ]


def upgrade() -> None:
    """Add the end users and their usage; keys get ``app`` (false for every existing
    key), history rows the end user and task columns (NULL: none)."""
    op.create_table(
        "end_users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(200), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("role", sa.String(40), nullable=False),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        *settings_columns(),
        sa.UniqueConstraint(
            "key_id", "external_id", name="uq_end_users_key_external"
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_end_users_user", "end_users", ["user_id"])
    op.create_table(
        "end_user_usage",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("end_user_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(64), nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("end_user_id", "period"),
    )
    op.create_index(
        "ix_end_user_usage_end_user_id", "end_user_usage", ["end_user_id"]
    )
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(
            sa.Column("app", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("history_requests") as batch:
        batch.add_column(sa.Column("end_user_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("end_user_name", sa.String(120), nullable=True))
        batch.add_column(sa.Column("task", sa.String(40), nullable=True))
        batch.create_index(
            "ix_history_end_user_time", ["end_user_id", "started_at"]
        )


def downgrade() -> None:
    """Drop them again (the people and their usage go with their tables)."""
    with op.batch_alter_table("history_requests") as batch:
        batch.drop_index("ix_history_end_user_time")
        batch.drop_column("task")
        batch.drop_column("end_user_name")
        batch.drop_column("end_user_id")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("app")
    op.drop_index("ix_end_user_usage_end_user_id", table_name="end_user_usage")
    op.drop_table("end_user_usage")
    op.drop_index("ix_end_users_user", table_name="end_users")
    op.drop_table("end_users")
