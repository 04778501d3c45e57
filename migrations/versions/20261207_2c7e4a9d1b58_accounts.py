"""accounts: admins become users with the admin role; users get a role, a password,
a session token, a last login and an OpenID subject; invitations.

Every admin is kept with its password hash (the same password signs in; open
sessions end, as the session id holds the row id): one whose name is a user's
becomes that user, any other a new user. The audit log's actor column then points
at users, each entry at its admin's user.
Downgrade rebuilds ``admins`` from the users with the admin role and a password
(their ids are the users' ids, so the audit log keeps pointing at them).

Revision ID: 2c7e4a9d1b58
Revises: 7b2e9d4c1a63
Create Date: 2026-12-07 19:20:00
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "2c7e4a9d1b58"
down_revision = "7b2e9d4c1a63"
branch_labels = None
depends_on = None

# names for the unnamed foreign key SQLite reflects from the baseline's audit_log
CONVENTION = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}

users = sa.table(
    "users",
    sa.column("id", sa.Integer),
    sa.column("name", sa.String),
    sa.column("created_at", sa.DateTime),
    sa.column("role", sa.String),
    sa.column("password_hash", sa.String),
    sa.column("session_token", sa.String),
    sa.column("last_login_at", sa.DateTime),
)
admins = sa.table(
    "admins",
    sa.column("id", sa.Integer),
    sa.column("name", sa.String),
    sa.column("password_hash", sa.String),
    sa.column("session_token", sa.String),
    sa.column("created_at", sa.DateTime),
    sa.column("last_login_at", sa.DateTime),
)
audit = sa.table("audit_log", sa.column("id", sa.Integer), sa.column("admin_id"))


def account_columns() -> list[sa.Column]:
    """The users' new columns."""
    return [
        sa.Column("role", sa.String(16), nullable=False, server_default="member"),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("session_token", sa.String(32), nullable=True),
        sa.Column("last_login_at", sa.DateTime(), nullable=True),
        sa.Column("oidc_subject", sa.String(255), nullable=True),
    ]


def audit_actor_key(drop: str | None, create: str | None, referred: str) -> None:
    """Drop the audit log's actor foreign key ``drop`` and/or create ``create``
    pointing at ``referred`` (``users`` or ``admins``)."""
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("audit_log", naming_convention=CONVENTION) as batch:
            if drop:
                batch.drop_constraint(drop, type_="foreignkey")
            if create:
                batch.create_foreign_key(
                    create, referred, ["admin_id"], ["id"], ondelete="SET NULL"
                )
        return
    if drop:
        op.drop_constraint(drop, "audit_log", type_="foreignkey")
    if create:
        op.create_foreign_key(
            create, "audit_log", referred, ["admin_id"], ["id"], ondelete="SET NULL"
        )


def old_key_name(conn: sa.Connection) -> str:
    """The name of the baseline's (unnamed) actor foreign key to ``admins``."""
    if conn.dialect.name == "sqlite":
        return "fk_audit_log_admin_id_admins"  # by CONVENTION
    return "audit_log_admin_id_fkey"  # PostgreSQL's own name for it


def repoint_audit(conn: sa.Connection, moved: dict[int, int | None]) -> None:
    """Set each audit entry's actor id by ``moved`` (old id -> new id); entries are
    picked before any update, so an id both moved away and moved to stays right."""
    picked = {
        old: conn.execute(sa.select(audit.c.id).where(audit.c.admin_id == old))
        .scalars()
        .all()
        for old in moved
    }
    for old, ids in picked.items():
        if ids and moved[old] != old:
            conn.execute(
                audit.update().where(audit.c.id.in_(ids)).values(admin_id=moved[old])
            )


def catch_up_id_sequence(conn: sa.Connection) -> None:
    """On PostgreSQL, move the users' id sequence past every id in use (rows put
    there with their ids, as a restore does, leave it behind); never back, so a
    deleted user's id is not handed out again."""
    if conn.dialect.name != "postgresql":
        return  # SQLite's AUTOINCREMENT counts from the largest id ever used
    seq = conn.execute(sa.text("SELECT pg_get_serial_sequence('users', 'id')")).scalar()
    top = conn.execute(sa.select(sa.func.max(users.c.id))).scalar()
    if seq is None or top is None:
        return
    last, called = conn.execute(
        sa.text(f"SELECT last_value, is_called FROM {seq}")
    ).one()
    if top > (last if called else last - 1):
        conn.execute(sa.select(sa.func.setval(seq, top)))


def upgrade() -> None:
    """Add the account columns, merge admins into users, add invitations."""
    with op.batch_alter_table("users") as batch:
        for column in account_columns():
            batch.add_column(column)
        batch.create_unique_constraint("uq_users_oidc_subject", ["oidc_subject"])
    conn = op.get_bind()
    audit_actor_key(old_key_name(conn), None, "admins")  # ids move below
    catch_up_id_sequence(conn)
    moved: dict[int, int | None] = {}
    for admin in conn.execute(sa.select(admins).order_by(admins.c.id)).all():
        account = {
            "role": "admin",
            "password_hash": admin.password_hash,
            "session_token": admin.session_token,
            "last_login_at": admin.last_login_at,
        }
        same = conn.execute(
            sa.select(users.c.id).where(users.c.name == admin.name)
        ).scalar()
        if same is None:
            same = conn.execute(
                users.insert()
                .values(name=admin.name, created_at=admin.created_at, **account)
                .returning(users.c.id)
            ).scalar_one()
        else:
            conn.execute(users.update().where(users.c.id == same).values(**account))
        moved[admin.id] = same
    dangling = conn.execute(
        sa.select(audit.c.admin_id)
        .where(audit.c.admin_id.is_not(None))
        .where(audit.c.admin_id.not_in(list(moved) or [-1]))
        .distinct()
    ).scalars()
    moved.update(dict.fromkeys(dangling))  # (no such admin: a broken row, cleared)
    repoint_audit(conn, moved)
    audit_actor_key(None, "fk_audit_log_admin_id_users", "users")
    op.drop_table("admins")
    op.create_table(
        "invitations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_invitations_user_id_users",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("token_hash", name="uq_invitations_token_hash"),
    )
    op.create_index("ix_invitations_user_id", "invitations", ["user_id"])


def downgrade() -> None:
    """Rebuild admins from the users with the admin role and a password; drop the
    rest (users who came from admins stay, as users without keys)."""
    op.drop_index("ix_invitations_user_id", "invitations")
    op.drop_table("invitations")
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
    conn = op.get_bind()
    audit_actor_key("fk_audit_log_admin_id_users", None, "users")
    kept = []
    for user in conn.execute(
        sa.select(users)
        .where(users.c.role == "admin", users.c.password_hash.is_not(None))
        .order_by(users.c.id)
    ).all():
        if len(user.name) > 80:
            continue  # (the old table's names were shorter; such an admin is lost)
        conn.execute(
            admins.insert().values(
                id=user.id,
                name=user.name,
                password_hash=user.password_hash,
                session_token=user.session_token or secrets.token_hex(16),
                created_at=user.created_at,
                last_login_at=user.last_login_at,
            )
        )
        kept.append(user.id)
    conn.execute(
        audit.update()
        .where(audit.c.admin_id.is_not(None))
        .where(audit.c.admin_id.not_in(kept or [-1]))
        .values(admin_id=None)
    )
    audit_actor_key(None, old_key_name(conn), "admins")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("uq_users_oidc_subject", type_="unique")
        for column in reversed(account_columns()):
            batch.drop_column(column.name)
