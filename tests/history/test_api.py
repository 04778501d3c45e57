"""The key holder's own history through the API: list, detail, never another user's."""

from __future__ import annotations

import pytest

from ollama_gate.extensions import db
from ollama_gate.models import ApiKey
from tests.helpers.keys import add_key


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def chat(client, key: str, content: str) -> None:
    resp = client.post(
        "/api/chat",
        headers=auth(key),
        json={
            "model": "llama3.2",
            "options": {"num_predict": 2},
            "messages": [{"role": "user", "content": content}],
        },
    )
    resp.get_data()
    resp.close()


@pytest.fixture()
def calls(app, client):
    """Alice has two keys with three calls and a manage key; Bob has one call."""
    alice1, alice2, bob = (
        add_key(app, "alice"),
        add_key(app, "alice"),
        add_key(app, "bob"),
    )
    chat(client, alice1, "alice first")
    chat(client, alice2, "alice second")
    chat(client, alice1, "alice third")
    chat(client, bob, "bob private")
    app.extensions["ollama_gate"].recorder.flush()
    manager = add_key(app, "alice", scopes="manage")
    return {"alice": alice1, "alice2": alice2, "bob": bob, "manager": manager}


def prompts(client, key: str, query: str = "") -> list[str]:
    resp = client.get(f"/gate/api/history{query}", headers=auth(key))
    assert resp.status_code == 200, resp.get_json()
    return [d["prompt"] for d in resp.get_json()["data"]]


def test_list_shows_only_the_keys_own_calls_newest_first(client, calls):
    resp = client.get("/gate/api/history", headers=auth(calls["alice"]))
    assert resp.status_code == 200
    data = resp.get_json()
    assert [d["prompt"] for d in data["data"]] == ["alice third", "alice first"]
    assert data["next"] is None and data["data"][0]["answer"] == "The quick"
    assert "bob" not in resp.get_data(as_text=True)
    # another key of the same user sees its own calls only
    assert prompts(client, calls["alice2"]) == ["alice second"]
    assert prompts(client, calls["alice2"], "?keys=own") == ["alice second"]
    assert prompts(client, calls["bob"]) == ["bob private"]
    assert prompts(client, calls["manager"]) == []  # the default holds for it too


def test_all_of_a_users_keys_need_the_manage_scope(client, calls):
    for key in ("alice", "alice2", "bob"):
        refused = client.get("/gate/api/history?keys=all", headers=auth(calls[key]))
        assert refused.status_code == 403
        assert "'manage' scope" in refused.get_json()["error"]
    assert prompts(client, calls["manager"], "?keys=all") == [
        "alice third",
        "alice second",
        "alice first",
    ]  # never another user's


def test_detail_of_another_key_needs_the_manage_scope(client, calls):
    (other,) = client.get(
        "/gate/api/history", headers=auth(calls["alice2"])
    ).get_json()["data"]
    resp = client.get(f"/gate/api/history/{other['id']}", headers=auth(calls["alice"]))
    assert resp.status_code == 404 and "alice second" not in resp.get_data(as_text=True)
    resp = client.get(
        f"/gate/api/history/{other['id']}", headers=auth(calls["manager"])
    )
    assert resp.status_code == 200 and resp.get_json()["prompt_text"] == "alice second"


def test_pagination_and_filters(client, calls):
    key = auth(calls["manager"])
    first = client.get("/gate/api/history?keys=all&limit=2", headers=key).get_json()
    assert len(first["data"]) == 2 and first["next"] == first["data"][1]["id"]
    rest = client.get(
        f"/gate/api/history?keys=all&limit=2&before={first['next']}", headers=key
    ).get_json()
    assert [d["prompt"] for d in rest["data"]] == ["alice first"] and rest[
        "next"
    ] is None
    assert prompts(client, calls["manager"], "?keys=all&q=SECOND") == ["alice second"]
    assert prompts(client, calls["alice"], "?q=SECOND") == []  # not this key's
    assert prompts(client, calls["alice"], "?endpoint=/api/generate") == []


def test_detail_own_and_not_others(client, calls):
    mine = client.get("/gate/api/history", headers=auth(calls["alice"])).get_json()[
        "data"
    ]
    bobs = client.get("/gate/api/history", headers=auth(calls["bob"])).get_json()[
        "data"
    ]
    detail = client.get(
        f"/gate/api/history/{mine[0]['id']}", headers=auth(calls["alice"])
    )
    assert detail.status_code == 200
    body = detail.get_json()
    assert body["request"]["messages"][0]["content"] == "alice third"
    assert body["answer_text"] == "The quick" and "user_id" not in body
    stolen = client.get(
        f"/gate/api/history/{bobs[0]['id']}", headers=auth(calls["alice"])
    )
    assert stolen.status_code == 404 and stolen.get_json() == {
        "error": "no such history record"
    }
    assert "bob private" not in stolen.get_data(as_text=True)


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=500",
        "limit=x",
        "status=maybe",
        "since=tomorrow",
        "before=%00",
        "before=../x",
        "q=%00",
        "limit=%C2%B2",  # a Unicode digit: str.isdigit() says yes, int() says no
        "limit=%D9%A3",
        "status=%C2%B2%C2%B2%C2%B2",
        "since=0001-01-01T00:00:00%2B01:00",
        "until=9999-12-31T23:00:00-01:00",
        "keys=mine",
        "keys=ALL%00",
    ],
)
def test_bad_parameters_are_json_400(client, calls, query):
    resp = client.get(f"/gate/api/history?{query}", headers=auth(calls["alice"]))
    assert resp.status_code == 400 and "error" in resp.get_json()


def test_needs_a_usable_key(app, client, calls):
    assert client.get("/gate/api/history").status_code == 401
    assert client.get("/gate/api/history", headers=auth("og_wrong")).status_code == 401
    with app.app_context():
        for row in db.session.execute(db.select(ApiKey)).scalars():
            row.disabled = True
        db.session.commit()
    resp = client.get("/gate/api/history", headers=auth(calls["alice"]))
    assert resp.status_code == 403 and resp.get_json()["error"]
    assert (
        client.post("/gate/api/history", headers=auth(calls["alice"])).status_code
        == 405
    )
    assert client.post("/gate/api/history").get_json()["error"]


def test_deleted_users_history_is_not_inherited(app, client, runner, calls):
    """SQLite reuses the highest free row id: a new user must not get old calls."""
    result = runner.invoke(args=["users", "delete", "bob", "--yes"])
    assert result.exit_code == 0, result.output
    mallory = add_key(app, "mallory")
    resp = client.get("/gate/api/history", headers=auth(mallory))
    assert resp.status_code == 200 and resp.get_json()["data"] == []
    with app.app_context():
        from ollama_gate.history.models import Request

        row = db.session.execute(
            db.select(Request).where(Request.user_name == "bob")
        ).scalar_one()  # the record itself stays, for the admin's history
        record_id = row.id
        assert row.user_id is None and row.key_id is None  # older databases reuse ids
    stolen = client.get(f"/gate/api/history/{record_id}", headers=auth(mallory))
    assert stolen.status_code == 404


@pytest.mark.needs_postgres
def test_odd_ids_are_404_on_postgresql(postgres_url, fake):
    from ollama_gate import create_app

    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": postgres_url,
            "BACKENDS": [fake.url],
            "KEY_CACHE_SECONDS": 0.0,
        }
    )
    with app.app_context():
        db.create_all()
    key = add_key(app)
    client = app.test_client()
    for path in ("/gate/api/history/%00", "/gate/api/history/" + "A" * 40):
        resp = client.get(path, headers=auth(key))
        assert resp.status_code == 404 and resp.get_json()["error"]
    resp = client.get("/gate/api/history?before=%00&q=x", headers=auth(key))
    assert resp.status_code == 400
    with app.app_context():
        db.engine.dispose()
