"""The caller's team on each history row: stored at record time (a later move does
not rewrite the past), filtered by (pages, CLI, dashboard), exported and imported,
shown per team on the dashboard; the migration keeps every row up and down."""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import command

from ollama_gate.extensions import db, migrate
from ollama_gate.history.models import Request
from ollama_gate.history.transfer import import_records, read_records
from ollama_gate.models import Team, User
from ollama_gate.schema import upgrade_database
from tests.core.test_schema import BOTH, new_app  # noqa: F401 (the fixture)
from tests.helpers.admin import login, make_admin
from tests.helpers.keys import add_key
from tests.helpers.release_db import build_release_database, rows

TEAMS = "8a18f3839906"  # the revision before history's team columns


def chat(client, key: str, text: str = "hi") -> None:
    resp = client.post(
        "/api/chat",
        json={
            "model": "llama3.2",
            "stream": False,
            "messages": [{"role": "user", "content": text}],
        },
        headers={"Authorization": f"Bearer {key}"},
    )
    assert resp.status_code == 200, resp.text


def put_in_team(app, user: str, team: str | None) -> None:
    with app.app_context():
        row = db.session.execute(db.select(User).where(User.name == user)).scalar_one()
        if team is None:
            row.team = None
        else:
            found = db.session.execute(
                db.select(Team).where(Team.name == team)
            ).scalar_one_or_none()
            row.team = found or Team(name=team)
        db.session.commit()
    app.extensions["ollama_gate"].key_cache.clear()


def history(app) -> list[tuple[str, str, int | None]]:
    app.extensions["ollama_gate"].recorder.flush()
    with app.app_context():
        return [
            (r.prompt_text, r.team_name, r.team_id)
            for r in db.session.execute(
                db.select(Request).order_by(Request.started_at, Request.id)
            ).scalars()
        ]


def test_a_row_keeps_the_team_of_its_time(app, client, fake):
    key = add_key(app, "alice")
    chat(client, key, "before any team")
    put_in_team(app, "alice", "red")
    chat(client, key, "in red")
    put_in_team(app, "alice", "blue")
    chat(client, key, "in blue")
    put_in_team(app, "alice", None)
    chat(client, key, "after")
    with app.app_context():
        ids = dict(db.session.execute(db.select(Team.name, Team.id)).all())
    assert history(app) == [
        ("before any team", "", None),
        ("in red", "red", ids["red"]),
        ("in blue", "blue", ids["blue"]),
        ("after", "", None),
    ]
    # a deleted team's calls keep its name, not its id
    with app.app_context():
        db.session.delete(db.session.get(Team, ids["red"]))
        db.session.commit()
    assert ("in red", "red", None) in history(app)


def test_filter_by_team_in_pages_cli_dashboard_and_exports(app, client, fake):
    red, other = add_key(app, "alice"), add_key(app, "bob")
    put_in_team(app, "alice", "red <b>")
    chat(client, red, "from red")
    chat(client, other, "from bob")
    history(app)
    make_admin(app)
    login(client)
    page = client.get("/history/?team=red+<b>").text
    assert "from red" in page and "from bob" not in page
    assert '<option value="red &lt;b&gt;" selected>' in page  # the filter, escaped
    assert "red <b>" not in page
    listing = client.get("/history/").text
    assert "team red &lt;b&gt;" in listing
    for fmt in ("jsonl", "csv"):
        body = client.get(f"/history/export.{fmt}?team=red+<b>").text
        assert "from red" in body and "from bob" not in body
        assert "team_name" in body and "red <b>" in body
    lines = client.get("/history/export.jsonl").text.splitlines()
    assert {json.loads(x)["team_name"] for x in lines} == {"red <b>", ""}
    dash = client.get("/history/dashboard?range=24h").text
    assert "Calls per team" in dash and "red &lt;b&gt;" in dash
    assert "red <b>" not in dash
    only = client.get("/history/dashboard?team=red+<b>").text
    assert "from bob" not in only
    assert 'id="top-teams"' in client.get("/admin/overview").text
    with app.app_context():
        rid = db.session.execute(
            db.select(Request.id).where(Request.team_name != "")
        ).scalar_one()
    detail = client.get(f"/history/{rid}").text
    assert "the team's calls" in detail and "red &lt;b&gt;" in detail
    assert "/admin/teams/" in detail
    out = app.test_cli_runner().invoke(args=["history", "list", "--team", "red <b>"])
    assert out.exit_code == 0, out.output
    assert "alice" in out.output and "bob" not in out.output


def test_import_links_the_team_by_name(app, client, fake):
    key = add_key(app, "alice")
    put_in_team(app, "alice", "red")
    chat(client, key, "exported")
    history(app)
    make_admin(app)
    login(client)
    csv_text = client.get("/history/export.csv").text
    with app.app_context():
        db.session.execute(sa.delete(Request))
        team = db.session.execute(db.select(Team)).scalar_one()
        team.name = "renamed"  # the file's team no longer exists here
        db.session.add(Team(name="red"))  # another team now has that name
        db.session.commit()
        red_id = db.session.execute(
            db.select(Team.id).where(Team.name == "red")
        ).scalar_one()
        added, _ = import_records(read_records(csv_text.splitlines(True), "csv"))
        assert added == 1
        row = db.session.execute(db.select(Request)).scalar_one()
        assert (row.team_name, row.team_id) == ("red", red_id)


@BOTH
def test_history_team_migration_keeps_every_row_up_and_down(new_app):  # noqa: F811
    app = new_app()
    with app.app_context():
        build_release_database(db.engine)
        before = rows(db.engine)
        upgrade_database()
        config = migrate.get_config()
        command.downgrade(config, TEAMS)
        columns = {
            c["name"] for c in sa.inspect(db.engine).get_columns("history_requests")
        }
        assert "team_name" not in columns
        with db.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO teams (id, name, created_at) "
                    "VALUES (7, 'ml', '2026-12-07 00:00:00')"
                )
            )
            conn.execute(sa.text("UPDATE users SET team_id = 7 WHERE id = 1"))
        command.upgrade(config, "head")
        assert rows(db.engine) == before  # every row kept, release columns unchanged
        with db.engine.connect() as conn:
            got = conn.execute(
                sa.text(
                    "SELECT id, team_id, team_name FROM history_requests ORDER BY id"
                )
            ).all()
        # alice's call takes her team; the deleted user's stays team-less
        assert [tuple(r) for r in got] == [
            ("01JD0000000000000000000001", 7, "ml"),
            ("01JD0000000000000000000002", None, ""),
        ]
        command.downgrade(config, TEAMS)
        assert rows(db.engine) == before
        command.upgrade(config, "head")
        assert rows(db.engine) == before
