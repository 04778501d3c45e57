"""The accounts migration (2c7e4a9d1b58): admins become users with the admin role,
every row and password kept, up and down, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from werkzeug.security import generate_password_hash

from ollama_gate.extensions import db, migrate
from ollama_gate.models import User
from ollama_gate.schema import upgrade_database
from tests.core.test_schema import BOTH, new_app  # noqa: F401 (the fixture)
from tests.helpers.release_db import WHEN, build_release_database, insert, key_row, rows

BEFORE_ACCOUNTS = "7b2e9d4c1a63"
CAROL_PASSWORD = "carol's long password"


def add_carol(engine: sa.Engine) -> str:
    """A user ``carol`` who owns a key and an admin ``carol`` (with a real password
    hash and audit entries): the admin whose name matches a key owner."""
    hashed = generate_password_hash(CAROL_PASSWORD)
    with engine.begin() as conn:
        insert(conn, "users", {"id": 7, "name": "carol", "created_at": WHEN})
        insert(conn, "api_keys", key_row(9, 7, "og_carol-key-00000000000000"))
        insert(
            conn,
            "admins",
            {
                "id": 2,  # admin 1 ("admin") has no user of its name
                "name": "carol",
                "password_hash": hashed,
                "session_token": "c" * 32,
                "created_at": WHEN,
                "last_login_at": None,
            },
        )
        insert(
            conn,
            "audit_log",
            {
                "at": WHEN,
                "client_addr": "192.0.2.9",
                "target": "alice",
                "detail": "",
                "admin_name": "carol",
                "admin_id": 2,
                "action": "user_created",
            },
        )
    return hashed


def accounts(engine: sa.Engine) -> dict[str, tuple]:
    """(role, password hash, session token, key count) of every user, by name."""
    with engine.connect() as conn:
        found = conn.execute(
            sa.text(
                "SELECT name, role, password_hash, session_token,"
                " (SELECT count(*) FROM api_keys k WHERE k.user_id = users.id)"
                " FROM users"
            )
        ).all()
    return {row[0]: tuple(row[1:]) for row in found}


def audit_actors(engine: sa.Engine) -> list[tuple]:
    """(admin_name, name of the account its admin_id points at) per audit entry."""
    with engine.connect() as conn:
        table = "users" if "role" in columns(engine, "users") else "admins"
        return conn.execute(
            sa.text(
                f"SELECT a.admin_name, t.name FROM audit_log a"
                f" LEFT JOIN {table} t ON t.id = a.admin_id ORDER BY a.id"
            )
        ).all()


def columns(engine: sa.Engine, table: str) -> set[str]:
    """The column names of ``table``."""
    return {c["name"] for c in sa.inspect(engine).get_columns(table)}


@BOTH
def test_accounts_migration_keeps_every_admin_and_password_up_and_down(new_app):  # noqa: F811
    app = new_app()
    with app.app_context():
        build_release_database(db.engine)
        hashed = add_carol(db.engine)
        before = rows(db.engine)
        actors = audit_actors(db.engine)
        assert actors == [("admin", "admin"), ("old admin", None), ("carol", "carol")]
        upgrade_database()
        assert rows(db.engine) == before
        tables = set(sa.inspect(db.engine).get_table_names())
        assert "admins" not in tables and "invitations" in tables
        found = accounts(db.engine)
        release_hash = "scrypt:32768:8:1$salt$" + "ab" * 64
        assert found == {
            "alice": ("member", None, None, 1),
            "bob ünïcode": ("member", None, None, 2),
            "carol": ("admin", hashed, "c" * 32, 1),  # the key owner, now admin
            "admin": ("admin", release_hash, "f" * 32, 0),  # a new user
        }
        assert audit_actors(db.engine) == actors  # each entry still names its admin
        carol = db.session.execute(
            db.select(User).where(User.name == "carol")
        ).scalar_one()
        assert carol.check_password(CAROL_PASSWORD) and carol.is_admin
        assert not carol.check_password("not carol's password")
        db.session.rollback()

        command.downgrade(migrate.get_config(), BEFORE_ACCOUNTS)
        assert rows(db.engine) == before
        assert "invitations" not in sa.inspect(db.engine).get_table_names()
        assert "role" not in columns(db.engine, "users")
        assert audit_actors(db.engine) == actors
        command.upgrade(migrate.get_config(), "head")
        assert rows(db.engine) == before
        assert accounts(db.engine) == found
        assert audit_actors(db.engine) == actors
