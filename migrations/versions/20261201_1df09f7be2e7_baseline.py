"""Baseline: the schema the last release before migrations made with create_all.

A database made by that release has these tables but no ``alembic_version``;
``ollama_gate.schema.upgrade_database`` stamps it at this revision instead of
running it. So this revision must stay exactly what ``create_all`` made then: no
server defaults (every default is set by the models in Python), unnamed unique
constraints (PostgreSQL names them ``<table>_<column>_key``, as ``create_all`` did),
and ``sqlite_autoincrement`` on users and keys (ids never reused).

Revision ID: 1df09f7be2e7
Revises:
Create Date: 2026-12-01 23:10:42.147646
"""

import sqlalchemy as sa
from alembic import op

revision = "1df09f7be2e7"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create every table of the baseline, parents first."""
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("history_mode", sa.String(length=10), nullable=True),
        sa.Column("rate_limit", sa.String(length=200), nullable=True),
        sa.Column("calls_per_day", sa.Integer(), nullable=True),
        sa.Column("tokens_per_day", sa.Integer(), nullable=True),
        sa.Column("calls_per_month", sa.Integer(), nullable=True),
        sa.Column("tokens_per_month", sa.Integer(), nullable=True),
        sa.Column("model_allowlist", sa.Text(), nullable=True),
        sa.Column("scopes", sa.String(length=200), nullable=False),
        sa.Column("max_concurrency", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_api_keys_prefix"), "api_keys", ["prefix"])
    op.create_table(
        "key_usage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=12), nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["key_id"], ["api_keys.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_id", "period"),
    )
    op.create_table(
        "admins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("session_token", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_login_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("admin_name", sa.String(length=80), nullable=False),
        sa.Column("admin_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("client_addr", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["admin_id"], ["admins.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_audit_log_action"), "audit_log", ["action"])
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"])
    # no foreign keys: a record outlives its user and key (their ids are cleared)
    op.create_table(
        "history_requests",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("user_name", sa.String(length=120), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=True),
        sa.Column("key_prefix", sa.String(length=16), nullable=False),
        sa.Column("key_name", sa.String(length=120), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("endpoint", sa.String(length=200), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("upstream_model", sa.String(length=200), nullable=True),
        sa.Column("backend", sa.String(length=300), nullable=True),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("streamed", sa.Boolean(), nullable=False),
        sa.Column("completed", sa.Boolean(), nullable=False),
        sa.Column("disconnected", sa.Boolean(), nullable=False),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.Column("cache_hit", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("done_reason", sa.String(length=40), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("total_tokens", sa.Integer(), nullable=False),
        sa.Column("ttfb_ms", sa.Double(), nullable=True),
        sa.Column("total_ms", sa.Double(), nullable=True),
        sa.Column("client_addr", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.Column("prompt_text", sa.Text(), nullable=False),
        sa.Column("answer_text", sa.Text(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=True),
        sa.Column("answer", sa.JSON(), nullable=True),
        sa.Column("stats", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_history_requests_started_at"), "history_requests", ["started_at"]
    )
    op.create_index(
        "ix_history_user_time", "history_requests", ["user_id", "started_at"]
    )
    op.create_index("ix_history_key_time", "history_requests", ["key_id", "started_at"])
    op.create_index("ix_history_model", "history_requests", ["model"])
    op.create_index("ix_history_endpoint", "history_requests", ["endpoint"])
    op.create_index("ix_history_status", "history_requests", ["status"])


def downgrade() -> None:
    """Drop every table (and with it every row): children first."""
    for table in (
        "history_requests",
        "audit_log",
        "admins",
        "key_usage",
        "api_keys",
        "users",
    ):
        op.drop_table(table)
