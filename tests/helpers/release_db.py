"""A database as the last release before migrations left it: its tables made by
``create_all`` (as its ``init`` did), filled with a user, keys with limits, usage,
history, an admin and audit entries.

The tables are a frozen copy of that release's models, in SQLAlchemy Core: the
models move on with each migration, but a database made back then stays as it was.
Never edit them; ``test_schema`` checks they are the baseline revision.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from ollama_gate.keys import hash_key, visible_prefix

RELEASE = sa.MetaData()
sa.Table(
    "users",
    RELEASE,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(120), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sqlite_autoincrement=True,
)
sa.Table(
    "api_keys",
    RELEASE,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("prefix", sa.String(16), nullable=False, index=True),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("last_used_at", sa.DateTime),
    sa.Column("expires_at", sa.DateTime),
    sa.Column("disabled", sa.Boolean, nullable=False),
    sa.Column("revoked_at", sa.DateTime),
    sa.Column("history_mode", sa.String(10)),
    sa.Column("rate_limit", sa.String(200)),
    sa.Column("calls_per_day", sa.Integer),
    sa.Column("tokens_per_day", sa.Integer),
    sa.Column("calls_per_month", sa.Integer),
    sa.Column("tokens_per_month", sa.Integer),
    sa.Column("model_allowlist", sa.Text),
    sa.Column("scopes", sa.String(200), nullable=False),
    sa.Column("max_concurrency", sa.Integer),
    sqlite_autoincrement=True,
)
sa.Table(
    "key_usage",
    RELEASE,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "key_id", sa.ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("period", sa.String(12), nullable=False),
    sa.Column("calls", sa.BigInteger, nullable=False),
    sa.Column("tokens", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("key_id", "period"),
)
sa.Table(
    "admins",
    RELEASE,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(80), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("session_token", sa.String(32), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("last_login_at", sa.DateTime),
)
sa.Table(
    "audit_log",
    RELEASE,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.DateTime, nullable=False, index=True),
    sa.Column("admin_name", sa.String(80), nullable=False),
    sa.Column("admin_id", sa.ForeignKey("admins.id", ondelete="SET NULL")),
    sa.Column("action", sa.String(40), nullable=False, index=True),
    sa.Column("target", sa.String(200), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("client_addr", sa.String(64), nullable=False),
)
sa.Table(
    "history_requests",
    RELEASE,
    sa.Column("id", sa.String(26), primary_key=True),
    sa.Column("started_at", sa.DateTime, nullable=False, index=True),
    sa.Column("user_id", sa.Integer),
    sa.Column("user_name", sa.String(120), nullable=False),
    sa.Column("key_id", sa.Integer),
    sa.Column("key_prefix", sa.String(16), nullable=False),
    sa.Column("key_name", sa.String(120), nullable=False),
    sa.Column("method", sa.String(8), nullable=False),
    sa.Column("endpoint", sa.String(200), nullable=False),
    sa.Column("path", sa.String(500), nullable=False),
    sa.Column("model", sa.String(200)),
    sa.Column("upstream_model", sa.String(200)),
    sa.Column("backend", sa.String(300)),
    sa.Column("status", sa.Integer),
    sa.Column("streamed", sa.Boolean, nullable=False),
    sa.Column("completed", sa.Boolean, nullable=False),
    sa.Column("disconnected", sa.Boolean, nullable=False),
    sa.Column("truncated", sa.Boolean, nullable=False),
    sa.Column("cache_hit", sa.Boolean, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("mode", sa.String(10), nullable=False),
    sa.Column("done_reason", sa.String(40)),
    sa.Column("prompt_tokens", sa.Integer, nullable=False),
    sa.Column("completion_tokens", sa.Integer, nullable=False),
    sa.Column("total_tokens", sa.Integer, nullable=False),
    sa.Column("ttfb_ms", sa.Double),
    sa.Column("total_ms", sa.Double),
    sa.Column("client_addr", sa.String(64)),
    sa.Column("user_agent", sa.String(300)),
    sa.Column("prompt_text", sa.Text, nullable=False),
    sa.Column("answer_text", sa.Text, nullable=False),
    sa.Column("request", sa.JSON),
    sa.Column("answer", sa.JSON),
    sa.Column("stats", sa.JSON),
    sa.Index("ix_history_user_time", "user_id", "started_at"),
    sa.Index("ix_history_key_time", "key_id", "started_at"),
    sa.Index("ix_history_model", "model"),
    sa.Index("ix_history_endpoint", "endpoint"),
    sa.Index("ix_history_status", "status"),
)
T = RELEASE.tables
WHEN = datetime(2026, 11, 20, 9, 30, 0)
PLAIN_KEYS = ("og_release-alice-limited-key-0000000000000", "og_release-bob-key-1")


def build_release_database(engine: sa.Engine) -> None:
    """Make the release's tables (``create_all``, as its ``init`` did) and fill them."""
    RELEASE.create_all(engine)
    limited, plain = PLAIN_KEYS
    with engine.begin() as conn:
        insert(
            conn,
            "users",
            [
                {"id": 1, "name": "alice", "created_at": WHEN},
                {"id": 3, "name": "bob ünïcode", "created_at": WHEN},  # 2 was deleted
            ],
        )
        insert(
            conn,
            "api_keys",
            [
                key_row(
                    1,
                    1,
                    limited,
                    name="limited",
                    last_used_at=WHEN,
                    history_mode="metadata",
                    rate_limit="10/minute;100/hour",
                    calls_per_day=500,
                    tokens_per_day=200_000,
                    calls_per_month=9_000,
                    tokens_per_month=2_000_000_000,
                    model_allowlist="llama3*\nqwen2.5:7b",
                    scopes="manage",
                    max_concurrency=2,
                ),
                key_row(4, 3, plain, name="plain"),
                key_row(
                    5, 3, "og_gone", expires_at=datetime(2026, 1, 1), revoked_at=WHEN
                ),
            ],
        )
        insert(
            conn,
            "key_usage",
            [
                {"key_id": 1, "period": "d:2026-11-20", "calls": 7, "tokens": 1234},
                {"key_id": 1, "period": "m:2026-11", "calls": 70, "tokens": 5**20},
                {"key_id": 4, "period": "m:2026-11", "calls": 1, "tokens": 0},
            ],
        )
        insert(
            conn,
            "admins",
            {
                "id": 1,
                "name": "admin",
                "password_hash": "scrypt:32768:8:1$salt$" + "ab" * 64,
                "session_token": "f" * 32,
                "created_at": WHEN,
                "last_login_at": WHEN,
            },
        )
        audit = {"at": WHEN, "client_addr": "192.0.2.7", "target": "", "detail": ""}
        insert(
            conn,
            "audit_log",
            [
                {**audit, "admin_name": "admin", "admin_id": 1, "action": "login"},
                {
                    **audit,
                    "admin_name": "old admin",  # deleted: its id was set to NULL
                    "admin_id": None,
                    "action": "key_revoked",
                    "target": "bob ünïcode/gone",
                    "detail": "revoked from the key page",
                },
            ],
        )
        record = {
            "started_at": WHEN,
            "method": "POST",
            "key_prefix": visible_prefix(limited),
            "streamed": True,
            "completed": True,
            "disconnected": False,
            "truncated": False,
            "cache_hit": False,
            "mode": "full",
            **dict.fromkeys(("prompt_tokens", "completion_tokens", "total_tokens"), 0),
            **dict.fromkeys(("key_name", "prompt_text", "answer_text"), ""),
        }
        insert(
            conn,
            "history_requests",
            [
                {
                    **record,
                    "id": "01JD0000000000000000000001",
                    "user_id": 1,
                    "user_name": "alice",
                    "key_id": 1,
                    "key_name": "limited",
                    "endpoint": "chat",
                    "path": "/api/chat",
                    "model": "llama3.2",
                    "upstream_model": "llama3.2:latest",
                    "backend": "http://127.0.0.1:11434",
                    "status": 200,
                    "done_reason": "stop",
                    "prompt_tokens": 12,
                    "completion_tokens": 30,
                    "total_tokens": 42,
                    "ttfb_ms": 81.25,
                    "total_ms": 1503.5,
                    "client_addr": "192.0.2.8",
                    "user_agent": "ollama-python/0.6.3",
                    "prompt_text": "why is the sky blue? ☀",
                    "answer_text": "Rayleigh scattering.",
                    "request": {"messages": [{"role": "user", "content": "why?"}]},
                    "answer": {"message": {"role": "assistant", "content": "R."}},
                    "stats": {"eval_count": 30, "eval_duration": 1_200_000_000},
                },
                {
                    **record,
                    "id": "01JD0000000000000000000002",
                    "user_name": "deleted user",  # its ids were cleared
                    "endpoint": "generate",
                    "path": "/api/generate",
                    "status": 502,
                    "streamed": False,
                    "completed": False,
                    "error": "upstream unreachable",
                    "mode": "metadata",
                },
            ],
        )


def key_row(key_id: int, user_id: int, plain: str, **columns) -> dict:
    """An ``api_keys`` row for the key ``plain``."""
    key = {"prefix": visible_prefix(plain), "key_hash": hash_key(plain)}
    defaults = {"created_at": WHEN, "disabled": False, "scopes": "", "name": ""}
    return {"id": key_id, "user_id": user_id, **defaults, **key, **columns}


def insert(conn: sa.Connection, name: str, values: list[dict] | dict) -> None:
    """Insert rows into a release table; a column a row leaves out is NULL."""
    table = T[name]
    values = values if isinstance(values, list) else [values]
    empty = {column.name: None for column in table.columns if not column.primary_key}
    conn.execute(table.insert(), [{**empty, **row} for row in values])


def rows(engine: sa.Engine, without: str = "") -> dict[str, list[tuple]]:
    """Every row of the release's tables (their columns only, but ``without``), in
    key order.

    Admins are told by name: since the accounts migration (2c7e4a9d1b58) they are
    users with the admin role, with new ids, and the audit log points at those. So
    ``admins`` lists (name, password hash, session token, created, last login) from
    whichever table holds them, the audit log names its admin instead of an id,
    and ``users`` leaves out a user made from an admin (an admin's name, no keys)."""
    with engine.connect() as conn:
        out = {
            name: conn.execute(
                sa.select(*table.columns).order_by(*table.primary_key.columns)
            ).all()
            for name, table in T.items()
            if name not in (without, "admins", "audit_log", "users")
        }
        admins = _admins(conn)
        names = {row[0]: row[1] for row in admins}
        if "admins" != without:
            out["admins"] = [row[1:] for row in admins]
        if "audit_log" != without:
            log = T["audit_log"]
            out["audit_log"] = [
                (*row[:3], names.get(row.admin_id), *row[4:])
                for row in conn.execute(sa.select(*log.columns).order_by(log.c.id))
            ]
        if "users" != without:
            users, keys = T["users"], T["api_keys"]
            owners = set(conn.execute(sa.select(keys.c.user_id)).scalars())
            out["users"] = [
                row
                for row in conn.execute(sa.select(*users.columns).order_by(users.c.id))
                if row.id in owners or row.name not in set(names.values())
            ]
        return out


def _admins(conn: sa.Connection) -> list[tuple]:
    """(id, name, password hash, session token, created, last login) of every admin,
    by name, from ``admins`` or, after the accounts migration, from ``users``."""
    if "admins" in sa.inspect(conn).get_table_names():
        table = T["admins"]
        query = sa.select(*table.columns)
    else:
        table = sa.table(
            "users",
            *(sa.column(c.name, c.type) for c in T["admins"].columns),
            sa.column("role"),
        )
        query = sa.select(*(table.c[c.name] for c in T["admins"].columns)).where(
            table.c.role == "admin", table.c.password_hash.is_not(None)
        )
    return sorted(conn.execute(query).all(), key=lambda row: row.name)
