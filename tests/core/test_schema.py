"""Migrations (``ollama_gate/schema.py``, ``migrations/``): ``init`` upgrades a
database of the last release in place and keeps every row, a fresh install and an
upgraded one end with the same schema, and the models match the migrations; each on
SQLite and PostgreSQL (a fresh database per test)."""

from __future__ import annotations

import shutil
import uuid

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from ollama_gate import create_app
from ollama_gate.app import MIGRATIONS
from ollama_gate.extensions import db, migrate
from ollama_gate.schema import BASELINE, upgrade_database
from tests.helpers.release_db import PLAIN_KEYS, RELEASE, build_release_database, rows
from tests.helpers.services import POSTGRES_URL

BOTH = pytest.mark.parametrize(
    "dialect", ["sqlite", pytest.param("postgresql", marks=pytest.mark.needs_postgres)]
)


@pytest.fixture()
def new_app(dialect, tmp_path, fake):
    """A factory of apps, each on a fresh empty database of ``dialect``."""
    apps, databases = [], []
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")

    def make():
        if dialect == "sqlite":
            url = f"sqlite:///{tmp_path / f'gate{len(apps)}.db'}"
        else:
            name = f"ogschema_{uuid.uuid4().hex[:12]}"
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
            databases.append(name)
            url = POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "t",
                "SQLALCHEMY_DATABASE_URI": url,
                "BACKENDS": [fake.url],
                "KEY_CACHE_SECONDS": 0.0,
            }
        )
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["ollama_gate"].recorder.flush()
        with app.app_context():
            db.engine.dispose()
    if databases:  # SQLite runs need no PostgreSQL, not even to clean up
        with admin.connect() as conn:
            for name in databases:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def schema(engine: sa.Engine) -> dict[str, dict]:
    """Tables, columns (type, nullable, default), keys, indexes and constraints, as
    the database reports them."""
    insp = sa.inspect(engine)
    out = {}
    for table in sorted(insp.get_table_names()):
        out[table] = {
            "columns": [
                (
                    c["name"],
                    c["type"].compile(engine.dialect),
                    c["nullable"],
                    c["default"],
                    c.get("autoincrement"),
                )
                for c in insp.get_columns(table)
            ],
            "primary key": insp.get_pk_constraint(table),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in insp.get_indexes(table)
            ),
            "unique": sorted(
                (u["name"] or "", tuple(u["column_names"]))
                for u in insp.get_unique_constraints(table)
            ),
            "foreign keys": sorted(
                (
                    f["name"] or "",
                    tuple(f["constrained_columns"]),
                    f["referred_table"],
                    tuple(f["referred_columns"]),
                    tuple(sorted(f["options"].items())),
                )
                for f in insp.get_foreign_keys(table)
            ),
            "checks": sorted(
                (c["name"] or "", c["sqltext"])
                for c in insp.get_check_constraints(table)
            ),
        }
    if engine.dialect.name == "sqlite":  # AUTOINCREMENT shows only in the DDL
        master = sa.table("sqlite_master", sa.column("name"), sa.column("sql"))
        with engine.connect() as conn:
            for name, sql in conn.execute(sa.select(master.c.name, master.c.sql)):
                if name in out:
                    out[name]["autoincrement"] = "AUTOINCREMENT" in sql
    return out


def revisions(engine: sa.Engine) -> tuple[set[str], set[str]]:
    """(the database's revisions, the heads of migrations/)."""
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    heads = set(ScriptDirectory.from_config(migrate.get_config()).get_heads())
    return current, heads


@BOTH
def test_init_upgrades_a_release_database_and_keeps_every_row(new_app):
    app = new_app()
    with app.app_context():
        build_release_database(db.engine)
        before = rows(db.engine)
        assert "alembic_version" not in sa.inspect(db.engine).get_table_names()
    runner = app.test_cli_runner()
    for _ in range(2):  # adopts the release's tables, then finds nothing to do
        result = runner.invoke(args=["init"])
        assert result.exit_code == 0, result.output
        assert "existing users kept" in result.output
        assert "password" not in result.output  # the release's admin is kept
        with app.app_context():
            assert rows(db.engine) == before
            current, heads = revisions(db.engine)
            assert current == heads and len(heads) == 1
    client = app.test_client()
    limited, plain = (f"Bearer {key}" for key in PLAIN_KEYS)
    assert client.get("/api/tags", headers={"Authorization": plain}).status_code == 200
    # the limited key's allowlist (llama3*, qwen2.5:7b) still applies
    body = {"model": "mistral", "prompt": "hi", "stream": False}
    refused = client.post(
        "/api/generate", json=body, headers={"Authorization": limited}
    )
    assert refused.status_code == 403
    gone = client.get("/api/tags", headers={"Authorization": "Bearer og_gone"})
    assert gone.status_code == 403 and "revoked" in gone.get_json()["error"]


@BOTH
def test_fresh_install_and_upgraded_release_have_the_same_schema(new_app):
    fresh, upgraded = new_app(), new_app()
    assert fresh.test_cli_runner().invoke(args=["init"]).exit_code == 0
    with upgraded.app_context():
        build_release_database(db.engine)
    assert upgraded.test_cli_runner().invoke(args=["init"]).exit_code == 0
    with fresh.app_context():
        fresh_schema = schema(db.engine)
    with upgraded.app_context():
        upgraded_schema = schema(db.engine)
    assert set(fresh_schema) == set(db.metadata.tables) | {"alembic_version"}
    assert fresh_schema == upgraded_schema


@BOTH
def test_release_tables_are_the_baseline_revision(new_app):
    """Stamping a release database at the baseline tells the truth."""
    baseline, release = new_app(), new_app()
    with baseline.app_context():
        command.upgrade(migrate.get_config(), BASELINE)
        baseline_schema = schema(db.engine)
        del baseline_schema["alembic_version"]
    with release.app_context():
        build_release_database(db.engine)
        assert schema(db.engine) == baseline_schema


@BOTH
def test_models_match_the_migrations(new_app):
    """A model change without its migration fails here."""
    app = new_app()
    with app.app_context():
        assert upgrade_database() == "created"
        with db.engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            assert compare_metadata(context, db.metadata) == []
            # the comparison sees a change: the models with one column more
            changed = sa.MetaData()
            for table in db.metadata.tables.values():
                table.to_metadata(changed)
            changed.tables["api_keys"].append_column(sa.Column("note", sa.Text))
            diff = compare_metadata(context, changed)
            assert [op[0] for op in diff] == ["add_column"]
            assert diff[0][3].name == "note"


def add_revision(directory, name: str, body: str) -> None:
    """Write a migration after the current head into a copy of migrations/."""
    (head,) = ScriptDirectory(str(directory)).get_heads()
    (directory / "versions" / f"{name}.py").write_text(
        f'"""{name}"""\n\nimport sqlalchemy as sa\nfrom alembic import op\n\n'
        f"revision = {name!r}\ndown_revision = {head!r}\n\n\n"
        f"def upgrade():\n{body}\n"
    )


@BOTH
def test_a_later_migration_alters_tables_and_keeps_referencing_rows(new_app, tmp_path):
    """Batch mode on SQLite copies the table; the keys, usage and history of users
    survive a change to the users table (foreign keys are off while it runs)."""
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, directory)
    add_revision(
        directory,
        "widen_names",
        '    with op.batch_alter_table("users") as batch:\n'
        '        batch.alter_column("name", type_=sa.String(200))\n'
        '        batch.add_column(sa.Column("note", sa.Text(), nullable=False,'
        ' server_default=""))',
    )
    app = new_app()
    with app.app_context():
        build_release_database(db.engine)
        before = rows(db.engine)
        assert (
            upgrade_database(str(directory))
            == "adopted the existing tables and upgraded"
        )
        assert rows(db.engine) == before
        columns = sa.inspect(db.engine).get_columns("users")
        # (the teams migration adds team_id and the settings columns between)
        assert [
            (c["name"], getattr(c["type"], "length", None))
            for c in columns
            if c["name"] in ("id", "name", "created_at", "note")
        ] == [
            ("id", None),
            ("name", 200),
            ("created_at", None),
            ("note", None),
        ]
        users, keys = RELEASE.tables["users"], RELEASE.tables["api_keys"]
        with db.engine.begin() as conn:  # foreign keys are on again: cascades work
            conn.execute(sa.delete(users).where(users.c.id == 3))
            left = conn.execute(sa.select(keys.c.id).order_by(keys.c.id)).scalars()
            assert list(left) == [1]


@BOTH
def test_init_refuses_a_release_database_that_lacks_a_baseline_table(new_app):
    """Stamped, it would pass for complete; init says what is missing instead."""
    app = new_app()
    with app.app_context():
        build_release_database(db.engine)
        RELEASE.tables["audit_log"].drop(db.engine)
        before = rows(db.engine, without="audit_log")
    result = app.test_cli_runner().invoke(args=["init"])
    assert result.exit_code == 1
    assert "lacks" in result.output and "audit_log" in result.output
    with app.app_context():
        assert "alembic_version" not in sa.inspect(db.engine).get_table_names()
        assert rows(db.engine, without="audit_log") == before
