"""history_requests.team_id and team_name: the caller's team when the call was made.

Stored at record time (like user_name) so that moving a user to another team later
does not rewrite the past. Rows made before this revision take their user's team
at upgrade time (the best that is known; teams are as new as this column).

Revision ID: e83b5d1c9a47
Revises: c41f7a9e2d35
Create Date: 2026-12-07 16:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "e83b5d1c9a47"
down_revision = "8a18f3839906"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the team columns (empty: no team) and fill them from users' teams."""
    with op.batch_alter_table("history_requests") as batch:
        batch.add_column(sa.Column("team_id", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("team_name", sa.String(120), nullable=False, server_default="")
        )
        batch.create_index("ix_history_team_time", ["team_name", "started_at"])
    history = sa.table(
        "history_requests",
        sa.column("user_id", sa.Integer()),
        sa.column("team_id", sa.Integer()),
        sa.column("team_name", sa.String()),
    )
    users = sa.table("users", sa.column("id"), sa.column("team_id"))
    teams = sa.table("teams", sa.column("id"), sa.column("name"))
    team_of_user = (
        sa.select(users.c.team_id)
        .where(users.c.id == history.c.user_id)
        .scalar_subquery()
    )
    name_of_team = (
        sa.select(teams.c.name)
        .where(teams.c.id == users.c.team_id, users.c.id == history.c.user_id)
        .scalar_subquery()
    )
    op.execute(
        history.update()
        .where(
            history.c.user_id.in_(
                sa.select(users.c.id).where(users.c.team_id.is_not(None))
            )
        )
        .values(team_id=team_of_user, team_name=name_of_team)
    )
    with op.batch_alter_table("history_requests") as batch:  # as the model: no default
        batch.alter_column(
            "team_name", existing_type=sa.String(120), server_default=None
        )


def downgrade() -> None:
    """Drop the team columns."""
    with op.batch_alter_table("history_requests") as batch:
        batch.drop_index("ix_history_team_time")
        batch.drop_column("team_name")
        batch.drop_column("team_id")
