"""The person behind an app key: Open WebUI's headers as it sends them, the gateway's
own, per-person history, quotas and defaults, background tasks, hostile values, and
the CLI and admin pages.

The headers are Open WebUI's (``backend/open_webui/routers/ollama.py``,
``send_post_request``, with ``ENABLE_FORWARD_USER_INFO_HEADERS=true``): the name
``quote(user.name, safe=" ")``, the id, email and role as they are, and
``X-OpenWebUI-Chat-Id`` from ``metadata.chat_id``; the body is the payload with its
``metadata`` taken out. Background tasks (``routers/tasks.py``) send one user message
made from a template such as ``DEFAULT_TITLE_GENERATION_PROMPT_TEMPLATE``.
"""

from __future__ import annotations

from urllib.parse import quote

from ollama_gate.audit import AuditLog
from ollama_gate.endusers.background import task_of
from ollama_gate.endusers.headers import clean, person_of
from ollama_gate.endusers.models import EndUser, EndUserUsage
from ollama_gate.extensions import db
from ollama_gate.history.models import Request
from ollama_gate.models import ApiKey
from tests.helpers.admin import csrf_token, login, make_admin
from tests.helpers.keys import add_key

TITLE_PROMPT = """### Task:
Generate a concise, 3-5 word title with an emoji summarizing the chat history.
### Guidelines:
- The title should clearly represent the main theme or subject of the conversation.
### Output:
JSON format: { "title": "your concise title here" }
### Chat History:
<chat_history>
USER: why is the sky blue?
ASSISTANT: Rayleigh scattering.
</chat_history>"""
TAGS_PROMPT = """### Task:
Generate 1-3 broad tags categorizing the main themes of the chat history, along with \
1-3 more specific subtopic tags.
### Chat History:
<chat_history>
USER: hi
</chat_history>"""
FOLLOW_UP_PROMPT = """### Task:
Suggest 3-5 relevant follow-up questions or prompts that the user might naturally ask \
next in this conversation as a **user**, based on the chat history, to help continue \
or deepen the discussion."""
QUERY_PROMPT = """### Task:
Analyze the chat history to determine the necessity of generating search queries, in \
the given language. By default, **prioritize generating 1-3 broad and relevant search \
queries** unless it is absolutely certain that no additional information is required."""
AUTOCOMPLETE_PROMPT = """### Task:
You are an autocompletion system. Continue the text in `<text>` based on the \
**completion type** in `<type>` and the given language."""
EMOJI_PROMPT = """Your task is to reflect the speaker's likely facial expression \
through a fitting emoji. Interpret emotions from the message and reflect their facial \
expression using fitting, diverse emojis (e.g., 😊, 😢, 😡, 😱).

Message: ```hello```"""


def owui_headers(
    key: str,
    user_id: str,
    name: str,
    email: str,
    role: str = "user",
    chat_id: str | None = None,
) -> dict[str, str]:
    """The headers Open WebUI's ``send_post_request`` sends to an Ollama
    connection with ``ENABLE_FORWARD_USER_INFO_HEADERS=true``."""
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {key}",
        "X-OpenWebUI-User-Name": quote(name, safe=" "),
        "X-OpenWebUI-User-Id": user_id,
        "X-OpenWebUI-User-Email": email,
        "X-OpenWebUI-User-Role": role,
    }
    if chat_id:
        headers["X-OpenWebUI-Chat-Id"] = chat_id
    return headers


def chat_body(text: str, stream: bool = False) -> dict:
    """Open WebUI's /api/chat body: its ``metadata`` popped before sending."""
    return {
        "model": "llama3.2:latest",
        "messages": [{"role": "user", "content": text}],
        "stream": stream,
    }


ALICE = ("6f1c3c2e-0d5a-4a0e-9a51-3d1b0f2f7a11", "Alice Liddell", "alice@example.com")
BOB = ("0b7d2a8e-5c3f-4f8a-bb1e-2a9c4d6e8f00", "Bob Müller", "bob@example.com")


def app_key(app, user: str = "webui", **settings) -> str:
    """A new app key (``add_key``'s own first argument is the app)."""
    plain = add_key(app, user, name="open-webui", **settings)
    with app.app_context():
        key = (
            db.session.execute(db.select(ApiKey).order_by(ApiKey.id.desc()))
            .scalars()
            .first()
        )
        key.app = True
        db.session.commit()
    return plain


def flush(app) -> None:
    app.extensions["ollama_gate"].recorder.flush()


def records(app) -> list[Request]:
    flush(app)
    with app.app_context():
        rows = list(
            db.session.execute(
                db.select(Request).order_by(Request.started_at, Request.id)
            ).scalars()
        )
        db.session.expunge_all()
        return rows


def people(app) -> list[EndUser]:
    with app.app_context():
        rows = list(
            db.session.execute(db.select(EndUser).order_by(EndUser.id)).scalars()
        )
        db.session.expunge_all()
        return rows


# -- reading the headers -------------------------------------------------------------


def test_the_name_is_unquoted_and_hostile_values_are_cut_and_cleaned():
    headers = {
        "X-OpenWebUI-User-Id": "u1",
        "X-OpenWebUI-User-Name": quote("Zoë Ångström", safe=" "),
        "X-OpenWebUI-User-Email": "zoe@example.com",
        "X-OpenWebUI-User-Role": "admin",
    }
    assert person_of(headers) == (
        person_of(headers).__class__("u1", "Zoë Ångström", "zoe@example.com", "admin")
    )
    assert clean("a\x00b\x1b[2Jc\u202ed", 50) == "ab[2Jcd"  # controls, bidi go
    assert clean("x" * 10_000, 200) == "x" * 200
    assert clean("%ZZ%E2%28", 50, quoted=True) == "%ZZ\ufffd("  # bad escapes kept
    # WSGI hands a header over as Latin-1: its UTF-8 bytes are read back
    assert clean("Zoë".encode().decode("latin-1"), 50) == "Zoë"
    # the gateway's own header wins over Open WebUI's; "*" is never a person
    both = {**headers, "X-Ollama-Gate-User": "ext-7", "X-Ollama-Gate-User-Name": "Q"}
    assert person_of(both).external_id == "ext-7"
    assert person_of({"X-Ollama-Gate-User": "*"}) is None
    assert person_of({"X-OpenWebUI-User-Id": " \x00 "}) is None


def test_open_webui_background_tasks_are_told_from_chats():
    def one(text):
        return {"model": "m", "messages": [{"role": "user", "content": text}]}

    assert task_of(one(TITLE_PROMPT)) == "title"
    assert task_of(one(TAGS_PROMPT)) == "tags"
    assert task_of(one(FOLLOW_UP_PROMPT)) == "follow_up"
    assert task_of(one(QUERY_PROMPT)) == "queries"
    assert task_of(one(AUTOCOMPLETE_PROMPT)) == "autocomplete"
    assert task_of(one(EMOJI_PROMPT)) == "emoji"
    assert task_of({"model": "m", "prompt": TITLE_PROMPT}) == "title"
    assert task_of({"model": "m", "metadata": {"task": "title_generation"}}) == (
        "title_generation"
    )
    tools = {
        "messages": [
            {"role": "system", "content": "Available Tools: []\n\nYour task is..."},
            {"role": "user", "content": "Query: weather?"},
        ]
    }
    assert task_of(tools) == "tools"
    assert task_of(one("why is the sky blue?")) is None
    # a chat whose later turn quotes a template is still a chat
    two = one(TITLE_PROMPT)
    two["messages"] = [{"role": "user", "content": "hi"}, *two["messages"]]
    assert task_of(two) is None


# -- through the app -----------------------------------------------------------------


def test_two_open_webui_users_on_one_app_key_are_two_people_in_history(
    app, client, fake
):
    key = app_key(app)
    for who, text in ((ALICE, "alice asks"), (BOB, "bob asks"), (ALICE, "again")):
        reply = client.post(
            "/api/chat",
            json=chat_body(text),
            headers=owui_headers(key, *who, chat_id=f"chat-{who[1][:3]}"),
        )
        assert reply.status_code == 200, reply.get_data(as_text=True)
    alice, bob = people(app)
    assert (alice.external_id, alice.name, alice.email, alice.role) == (
        ALICE[0],
        "Alice Liddell",
        "alice@example.com",
        "user",
    )
    assert (bob.name, bob.email) == ("Bob Müller", "bob@example.com")
    rows = [r for r in records(app) if r.endpoint == "/api/chat"]
    assert [(r.end_user_id, r.end_user_name, r.prompt_text) for r in rows] == [
        (alice.id, "Alice Liddell", "alice asks"),
        (bob.id, "Bob Müller", "bob asks"),
        (alice.id, "Alice Liddell", "again"),
    ]
    assert all(r.task is None for r in rows)
    # the gateway's usage rows count each person's calls (their quota seed)
    with app.app_context():
        calls = dict(
            db.session.execute(
                db.select(EndUserUsage.end_user_id, EndUserUsage.calls).where(
                    EndUserUsage.period.startswith("d:")
                )
            ).all()
        )
    assert calls == {alice.id: 2, bob.id: 1}
    # Open WebUI's headers may pass through; the gateway's own never do
    client.post(
        "/api/chat",
        json=chat_body("own"),
        headers={"Authorization": f"Bearer {key}", "X-Ollama-Gate-User": "ext-1"},
    )
    sent = [r for r in fake.requests if r.path == "/api/chat"]
    assert sent[0].headers["x-openwebui-user-id"] == ALICE[0]
    assert "x-ollama-gate-user" not in sent[-1].headers
    # a renamed person keeps their row (the id identifies); the display follows
    client.post(
        "/api/chat",
        json=chat_body("renamed"),
        headers=owui_headers(key, ALICE[0], "Alice Pleasance", "ap@example.com"),
    )
    flush(app)
    renamed = people(app)[0]
    assert (renamed.id, renamed.name, renamed.email) == (
        alice.id,
        "Alice Pleasance",
        "ap@example.com",
    )


def test_the_history_filters_by_person_and_background_calls(app, client):
    key = app_key(app)
    client.post(
        "/api/chat", json=chat_body("a chat"), headers=owui_headers(key, *ALICE)
    )
    client.post(
        "/api/chat", json=chat_body(TITLE_PROMPT), headers=owui_headers(key, *ALICE)
    )
    client.post(
        "/api/chat", json=chat_body(TAGS_PROMPT), headers=owui_headers(key, *BOB)
    )
    client.post(
        "/api/chat", json=chat_body("bob chat"), headers=owui_headers(key, *BOB)
    )
    rows = records(app)
    assert [(r.end_user_name, r.task) for r in rows] == [
        ("Alice Liddell", None),
        ("Alice Liddell", "title"),
        ("Bob Müller", "tags"),
        ("Bob Müller", None),
    ]
    alice = people(app)[0]
    make_admin(app)
    login(client)
    page = client.get(f"/history/?end_user={alice.id}&calls=chats").get_data(
        as_text=True
    )
    assert (
        "a chat" in page and "bob chat" not in page and "Generate a concise" not in page
    )
    page = client.get("/history/?calls=background").get_data(as_text=True)
    assert ">tags</span>" in page and ">title</span>" in page  # the task's tag
    assert "a chat" not in page and "bob chat" not in page
    export = client.get("/history/export.jsonl?end_user=Bob%20M%C3%BCller")
    assert export.status_code == 200
    lines = export.get_data(as_text=True).strip().splitlines()
    assert len(lines) == 2 and all('"end_user_name": "Bob M' in x for x in lines)
    assert client.get("/history/?calls=nonsense").status_code == 400
    detail = client.get(f"/history/{rows[1].id}").get_data(as_text=True)
    assert "record-person" in detail and "Alice Liddell" in detail
    assert "Background task" in detail and "title" in detail


def test_the_headers_of_a_plain_key_are_ignored(app, client):
    key = add_key(app, "someone")  # not an app key
    reply = client.post(
        "/api/chat",
        json=chat_body(TITLE_PROMPT),
        headers={
            **owui_headers(key, *ALICE, chat_id="c1"),
            "X-Ollama-Gate-User": "ext-9",
        },
    )
    assert reply.status_code == 200
    assert people(app) == []
    (row,) = records(app)
    assert (row.end_user_id, row.end_user_name, row.task) == (None, None, None)


def test_per_person_quota_refuses_one_person_only_after_their_own(app, client):
    key = app_key(app)
    # the app key's per-person defaults: two calls a day each
    with app.app_context():
        k = db.session.execute(db.select(ApiKey)).scalars().one()
        db.session.add(
            EndUser(
                key_id=k.limits_id, user_id=k.user_id, external_id="*", calls_per_day=2
            )
        )
        db.session.commit()

    def chat(who):
        return client.post(
            "/api/chat", json=chat_body("q"), headers=owui_headers(key, *who)
        )

    assert [chat(ALICE).status_code for _ in range(2)] == [200, 200]
    refused = chat(ALICE)
    assert refused.status_code == 429
    assert "end user 'Alice Liddell'" in refused.get_json()["error"]
    # Bob has his own two calls: Alice's use is not his
    assert [chat(BOB).status_code for _ in range(2)] == [200, 200]
    assert chat(BOB).status_code == 429
    # a person's own setting beats the default
    with app.app_context():
        bob = db.session.execute(
            db.select(EndUser).where(EndUser.external_id == BOB[0])
        ).scalar_one()
        bob.calls_per_day = 5
        db.session.commit()
    app.extensions["ollama_gate_endusers"].directory.clear()
    assert chat(BOB).status_code == 200


def test_a_persons_concurrency_cap_and_allowlist_bind_them_alone(app, client, fake):
    key = app_key(app)
    with app.app_context():
        k = db.session.execute(db.select(ApiKey)).scalars().one()
        db.session.add(
            EndUser(
                key_id=k.limits_id,
                user_id=k.user_id,
                external_id="*",
                max_concurrency=1,
            )
        )
        db.session.commit()
    fake.hold_second_chunk = True  # a stream stays in flight until released
    held = client.post(
        "/api/chat",
        json=chat_body("long", stream=True),
        headers=owui_headers(key, *ALICE),
        buffered=False,
    )
    assert held.status_code == 200
    refused = client.post(
        "/api/chat", json=chat_body("more"), headers=owui_headers(key, *ALICE)
    )
    assert refused.status_code == 429
    assert "end user 'Alice Liddell'" in refused.get_json()["error"]
    fake.release.set()
    bob = client.post("/api/chat", json=chat_body("b"), headers=owui_headers(key, *BOB))
    assert bob.status_code == 200  # Alice's cap is hers alone
    held.get_data()
    held.close()
    # a person's own allowlist narrows what the app key allows, for them alone
    with app.app_context():
        row = db.session.execute(
            db.select(EndUser).where(EndUser.external_id == BOB[0])
        ).scalar_one()
        row.model_allowlist = "phi3"
        db.session.commit()
    app.extensions["ollama_gate_endusers"].directory.clear()
    denied = client.post(
        "/api/chat", json=chat_body("b"), headers=owui_headers(key, *BOB)
    )
    assert denied.status_code == 403
    ok = client.post(
        "/api/chat", json=chat_body("a"), headers=owui_headers(key, *ALICE)
    )
    assert ok.status_code == 200


def test_hostile_header_values_never_give_a_5xx(app, client):
    key = app_key(app)
    hostile = [
        {"X-OpenWebUI-User-Id": "x" * 8000, "X-OpenWebUI-User-Name": "%" * 5000},
        {"X-OpenWebUI-User-Id": "id\x01\x7f", "X-OpenWebUI-User-Name": "%E2%28%A1%ZZ%"},
        {"X-OpenWebUI-User-Id": "\u202eevil", "X-OpenWebUI-User-Email": "\x00" * 300},
        {"X-Ollama-Gate-User": "é" * 500, "X-Ollama-Gate-User-Email": "a@b\x0b"},
        {"X-OpenWebUI-User-Id": "*"},
        {"X-OpenWebUI-Chat-Id": "c" * 9000, "X-OpenWebUI-User-Id": "chatty"},
    ]
    for extra in hostile:
        headers = {"Authorization": f"Bearer {key}"}
        for name, value in extra.items():  # as a client would put them on the wire
            headers[name] = value.encode("utf-8").decode("latin-1")
        reply = client.post("/api/chat", json=chat_body("hi"), headers=headers)
        assert reply.status_code == 200, (extra, reply.get_data(as_text=True))
    stored = people(app)
    assert all(len(p.external_id) <= 200 and len(p.name) <= 120 for p in stored)
    assert all("\x00" not in p.email and "\x01" not in p.external_id for p in stored)
    assert "*" not in [p.external_id for p in stored]


def test_first_sight_is_race_safe_and_cached(app):
    """Two workers seeing a person at once make one row; later calls hit the cache."""
    from ollama_gate.endusers.directory import Directory
    from ollama_gate.endusers.headers import Person

    key = app_key(app)
    assert key
    first, second = Directory(ttl=60), Directory(ttl=60)
    with app.test_request_context():
        a = first.known(1, 1, Person("p1", "P"))
        b = second.known(1, 1, Person("p1", "P"))  # its insert is refused: reads a's
        assert a.id == b.id
        with app.app_context():
            db.session.execute(db.delete(EndUser))
            db.session.commit()
        assert first.known(1, 1, Person("p1", "P")).id == a.id  # no query: cached


# -- CLI and admin pages -------------------------------------------------------------


def test_cli_app_keys_people_and_defaults_are_audited(app, runner, client):
    runner.invoke(args=["users", "create", "webui"])
    created = runner.invoke(args=["keys", "create", "webui", "--app", "--name", "owui"])
    assert created.exit_code == 0, created.output
    plain = created.output.strip().splitlines()[-1]
    with app.app_context():
        key = db.session.execute(db.select(ApiKey)).scalars().one()
        assert key.app is True
        prefix = key.prefix
    off = runner.invoke(args=["keys", "set", prefix, "--no-app"])
    assert off.exit_code == 0, off.output
    runner.invoke(args=["keys", "set", prefix, "--app"])
    defaults = runner.invoke(
        args=["endusers", "defaults", prefix, "--calls-per-day", "7"]
    )
    assert defaults.exit_code == 0, defaults.output
    assert "calls per day: 7" in defaults.output
    client.post("/api/chat", json=chat_body("hi"), headers=owui_headers(plain, *ALICE))
    client.post("/api/chat", json=chat_body("hi"), headers=owui_headers(plain, *BOB))
    listed = runner.invoke(args=["endusers", "list", "--user", "webui"])
    assert listed.exit_code == 0
    lines = listed.output.strip().splitlines()
    assert len(lines) == 2 and "Bob Müller" in lines[0] and "Alice Liddell" in lines[1]
    found = runner.invoke(args=["endusers", "list", "--search", "alice@"])
    assert "Alice Liddell" in found.output and "Bob" not in found.output
    alice_id = found.output.split("\t", 1)[0]
    changed = runner.invoke(
        args=["endusers", "set", alice_id, "--tokens-per-day", "900"]
    )
    assert changed.exit_code == 0, changed.output
    assert "tokens per day: 900" in changed.output
    assert (
        runner.invoke(
            args=["endusers", "set", "99999", "--calls-per-day", "1"]
        ).exit_code
        != 0
    )
    bad = runner.invoke(args=["endusers", "set", alice_id, "--calls-per-day", "-3"])
    assert bad.exit_code != 0
    # "²" is a digit to str.isdigit, not to int(): a clear error, not a traceback
    odd = runner.invoke(args=["endusers", "set", "\xb2", "--calls-per-day", "1"])
    assert odd.exit_code == 1 and "no end user with id" in odd.output
    flush(app)
    listed = runner.invoke(args=["history", "list", "--end-user", alice_id])
    assert listed.exit_code == 0, listed.output
    assert (
        len(listed.output.strip().splitlines()) == 1
        and "Alice Liddell" in listed.output
    )
    with app.app_context():
        audit = [
            (a.action, a.detail)
            for a in db.session.execute(
                db.select(AuditLog).order_by(AuditLog.id)
            ).scalars()
        ]
    assert ("key_updated", "app: True → False") in audit
    assert ("key_updated", "app: False → True") in audit
    assert any(
        a == "end_user_updated" and "calls_per_day: none → 7" in d for a, d in audit
    )
    assert any(
        a == "end_user_updated" and "tokens_per_day: none → 900" in d for a, d in audit
    )


def test_admin_pages_list_search_and_set_a_person(app, client):
    key = app_key(app)
    client.post("/api/chat", json=chat_body("hi"), headers=owui_headers(key, *ALICE))
    client.post(
        "/api/chat",
        json=chat_body("hi"),
        headers=owui_headers(key, "x1", "<script>alert(1)</script>", "x@example.com"),
    )
    flush(app)  # the usage is written after the calls, in the background
    make_admin(app)
    login(client)
    page = client.get("/admin/people").get_data(as_text=True)
    assert "Alice Liddell" in page and "<script>alert" not in page
    assert "&lt;script&gt;" in page
    page = client.get("/admin/people?q=liddell").get_data(as_text=True)
    assert "Alice Liddell" in page and "&lt;script&gt;" not in page
    alice = people(app)[0]
    person_page = client.get(f"/admin/people/{alice.id}")
    assert person_page.status_code == 200
    html = person_page.get_data(as_text=True)
    assert "person-usage" in html and f"/history?end_user={alice.id}" in html
    token = csrf_token(client, f"/admin/people/{alice.id}")
    saved = client.post(
        f"/admin/people/{alice.id}",
        data={"csrf_token": token, "calls_per_day": "3", "queue_weight": "2"},
    )
    assert saved.status_code == 302
    with app.app_context():
        row = db.session.get(EndUser, alice.id)
        assert (row.calls_per_day, row.queue_weight) == (3, 2)
    no_csrf = client.post(f"/admin/people/{alice.id}", data={"calls_per_day": "9"})
    assert no_csrf.status_code == 400
    bad = client.post(
        f"/admin/people/{alice.id}", data={"csrf_token": token, "calls_per_day": "x"}
    )
    assert bad.status_code == 400
    assert client.get("/admin/people/99999999999").status_code == 404
    # the app key's page links its people and defaults; the defaults form saves
    with app.app_context():
        k = db.session.execute(db.select(ApiKey)).scalars().one()
        key_id = k.id
    assert "key-app" in client.get(f"/admin/keys/{key_id}").get_data(as_text=True)
    token = csrf_token(client, f"/admin/keys/{key_id}/people-defaults")
    saved = client.post(
        f"/admin/keys/{key_id}/people-defaults",
        data={"csrf_token": token, "tokens_per_day": "1000"},
    )
    assert saved.status_code == 302
    with app.app_context():
        row = db.session.execute(
            db.select(EndUser).where(EndUser.external_id == "*")
        ).scalar_one()
        assert row.tokens_per_day == 1000
    assert (
        "per-person defaults"
        not in client.get("/admin/people").get_data(as_text=True).split("App keys")[0]
    )


def test_the_key_form_marks_an_app_key_and_audits_it(app, client):
    add_key(app, "webui", name="owui")
    make_admin(app)
    login(client)
    with app.app_context():
        key_id = db.session.execute(db.select(ApiKey.id)).scalar_one()
    page = client.get(f"/admin/keys/{key_id}").get_data(as_text=True)
    assert 'name="app"' in page
    token = csrf_token(client, f"/admin/keys/{key_id}")
    saved = client.post(
        f"/admin/keys/{key_id}",
        data={"csrf_token": token, "name": "owui", "app": "y", "scopes": ""},
    )
    assert saved.status_code == 302
    with app.app_context():
        assert db.session.get(ApiKey, key_id).app is True
        details = [a.detail for a in db.session.execute(db.select(AuditLog)).scalars()]
    assert any("app: False → True" in d for d in details)
    # the New key page has the checkbox too, and makes an app key
    page = client.get("/admin/keys/new").get_data(as_text=True)
    assert 'name="app"' in page
    token = csrf_token(client, "/admin/keys/new")
    made = client.post(
        "/admin/keys/new",
        data={"csrf_token": token, "new_user": "chatapp", "app": "y"},
    )
    assert made.status_code == 303, made.get_data(as_text=True)[:2000]
    with app.app_context():
        newest = (
            db.session.execute(db.select(ApiKey).order_by(ApiKey.id.desc()))
            .scalars()
            .first()
        )
        assert newest.app is True
        created = db.session.execute(
            db.select(AuditLog).where(AuditLog.action == "key_created")
        ).scalar_one()
        assert created.detail == "(app key)"
