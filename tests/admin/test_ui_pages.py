"""The admin UI's second-round pages through the Flask client: a backend edited from
the environment and reset, and the confirm pages for aliases, routes and policies."""

from __future__ import annotations

import re

from ollama_gate.audit import AuditLog
from ollama_gate.extensions import db
from ollama_gate.routing.models import Alias, ModelRoute
from ollama_gate.scheduler.models import ModelPolicy
from tests.helpers.admin import login, make_admin, post
from tests.routing.test_routing import make_fleet_app


def admin_client(app):
    make_admin(app)
    client = app.test_client()
    login(client)
    return client


def test_a_backend_from_the_environment_is_edited_then_reset(tmp_path, pool):
    app = make_fleet_app(tmp_path, pool)
    client = admin_client(app)
    page = client.get("/admin/backends/gpu2/edit").get_data(as_text=True)
    assert pool[1].url in page and "OLLAMA_GATE_BACKENDS" in page
    assert client.get("/admin/backends/gpu2/remove").status_code == 404  # env only
    form = {"url": pool[1].url, "weight": "4", "parallel": "", "token": "tok-xyz"}
    resp = post(client, "/admin/backends/gpu2/edit", form, "/admin/backends/gpu2/edit")
    assert resp.status_code == 302
    config = app.extensions["ollama_gate"].fleet.get("gpu2").config
    assert (config.weight, config.token, config.source) == (
        4,
        "tok-xyz",
        "env+database",
    )
    with app.app_context():
        entry = db.session.execute(
            db.select(AuditLog).where(AuditLog.action == "backend_changed")
        ).scalar_one()
    assert entry.detail == "weight: 1 → 4, token: none → set"  # names what changed
    bad = post(client, "/admin/backends/gpu2/edit", {"url": "x"}, "/admin/backends")
    assert bad.status_code == 400 and 'id="form-errors"' in bad.get_data(as_text=True)
    ask = client.get("/admin/backends/gpu2/remove").get_data(as_text=True)
    assert "Reset backend gpu2?" in ask
    post(client, "/admin/backends/gpu2/remove", {}, "/admin/backends")
    with app.app_context():
        app.extensions["ollama_gate"].fleet.reload()
    config = app.extensions["ollama_gate"].fleet.get("gpu2").config
    assert (config.weight, config.token, config.source) == (1, None, "env")


def test_alias_route_and_policy_removal_ask_first(tmp_path, pool):
    app = make_fleet_app(tmp_path, pool)
    client = admin_client(app)
    page = "/admin/backends"
    post(
        client,
        "/admin/backends/aliases",
        {"alias-alias": "fast", "alias-model": "phi3:mini"},
        page,
    )
    post(
        client,
        "/admin/backends/routes",
        {"route-model": "phi3:mini", "route-backends": "gpu3"},
        page,
    )
    post(
        client,
        "/admin/backends/policies",
        {"policy-model": "phi3:mini", "policy-warm": "1"},
        page,
    )
    listing = client.get(page).get_data(as_text=True)
    paths = (
        "/admin/backends/aliases/fast/remove",
        "/admin/backends/routes/phi3:mini/remove",
        "/admin/backends/policies/phi3:mini/remove",
    )
    for path in paths:
        assert f'href="{path}"' in listing
        assert "Cancel" in client.get(path).get_data(as_text=True)  # asks first

    def count() -> int:
        with app.app_context():
            return sum(
                len(db.session.execute(db.select(m)).scalars().all())
                for m in (Alias, ModelRoute, ModelPolicy)
            )

    assert count() == 3  # asking removed nothing
    for path in paths:
        assert post(client, path, {}, page).status_code == 302
    assert count() == 0


def test_settings_in_effect_show_values_sources_and_no_secret(
    tmp_path, fake_server, monkeypatch
):
    monkeypatch.setenv("OLLAMA_GATE_HEALTH_INTERVAL", "7")
    monkeypatch.setenv("OLLAMA_GATE_METRICS_TOKEN", "metrics-secret-123")
    monkeypatch.chdir(tmp_path)  # no .env file here
    app = make_fleet_app(tmp_path, [fake_server])
    client = admin_client(app)
    post(
        client,
        "/admin/backends",
        {"add-name": "extra", "add-url": fake_server.url},
        "/admin/backends",
    )
    page = client.get("/admin/settings").get_data(as_text=True)
    assert 'href="/admin/settings"' in page  # in the menu
    assert "metrics-secret-123" not in page
    assert "test-secret" not in page  # SECRET_KEY

    def row(name: str) -> str:
        start = page.index(f'id="OLLAMA_GATE_{name}"')
        return page[start : page.index("</tr>", start)]

    assert "<code>7</code>" in row("HEALTH_INTERVAL") and "environment" in row(
        "HEALTH_INTERVAL"
    )
    assert ">set<" in row("METRICS_TOKEN")
    assert "default" in row("QUEUE_MAX") and "<code>200</code>" in row("QUEUE_MAX")
    assert "set by the app" in row("KEY_CACHE_SECONDS")  # the test app's override
    assert "and 1 backend in the database" in row("BACKENDS")
    from ollama_gate.config import SETTINGS

    assert all(f'id="OLLAMA_GATE_{name}"' in page for name, *_ in SETTINGS)


def test_passwords_in_setting_urls_are_masked():
    from ollama_gate.admin.ineffect import masked

    assert masked("redis://:pw-1@host:6379/0") == "redis://:•••@host:6379/0"
    assert masked("a=http://u:p@h:1,b=http://h:2") == "a=http://u:•••@h:1,b=http://h:2"
    assert masked("http://host:11434") == "http://host:11434"


def test_the_admin_home_is_the_overview_with_budgets_near_their_end(app):
    from ollama_gate.limits.usage import Usage, day_period
    from ollama_gate.models import ApiKey, utcnow
    from tests.helpers.keys import add_key

    plain = add_key(app, "bob", name="nearly spent", calls_per_day=10)
    add_key(app, "carol", name="plenty left", calls_per_day=100)
    with app.app_context():
        for key in db.session.execute(db.select(ApiKey)).scalars():
            period = day_period(utcnow())
            db.session.add(Usage(key_id=key.id, period=period, calls=9, tokens=0))
        db.session.commit()
    client = admin_client(app)
    assert client.get("/admin/").headers["Location"] == "/admin/overview"
    page = client.get("/admin/overview").get_data(as_text=True)
    start = page.index('id="budgets"')
    budgets = page[start : page.index("</table>", start)]
    assert plain[:11] in budgets and "9 of 10 calls today" in budgets
    assert "plenty left" not in budgets
    assert 'id="stat-backends"' in page and "1 of 1" in page  # the fake is up
    assert "User created" in page or "Logged in" in page  # the latest actions


def test_a_key_state_reads_the_same_on_every_page(app):
    from datetime import timedelta

    from ollama_gate.models import ApiKey, User, utcnow
    from tests.helpers.keys import add_key

    soon = utcnow() + timedelta(hours=5)
    rotating = add_key(app, "dana", name="being replaced", revoke_at=soon)
    expired = add_key(app, "dana", name="too old")
    with app.app_context():
        old = db.session.execute(
            db.select(ApiKey).where(ApiKey.prefix == expired[:11])
        ).scalar_one()
        old.expires_at = utcnow() - timedelta(days=1)
        key_id = db.session.execute(
            db.select(ApiKey.id).where(ApiKey.prefix == rotating[:11])
        ).scalar_one()
        user_id = db.session.execute(db.select(User.id)).scalar_one()
        db.session.commit()
    client = admin_client(app)
    badge = 'class="badge key-state rotating" title="Replaced by a new key'
    for path in ("/admin/keys", f"/admin/users/{user_id}", f"/admin/keys/{key_id}"):
        page = client.get(path).get_data(as_text=True)
        assert badge in page, re.findall(r'<span class="badge[^<]*', page)
        assert f"until {soon:%Y-%m-%d %H:%M}" in page, path
    page = client.get(f"/admin/users/{user_id}").get_data(as_text=True)
    start = page.index(expired[:11])
    row = page[start : page.index("</tr>", start)]
    assert 'key-state expired"' in row and "Disable" not in row  # refused already
    assert "btn danger" not in page.split("<table", 1)[1].split("</table>")[0]


def test_counts_and_durations_read_as_plain_words(app):
    from ollama_gate.admin.words import duration, plural
    from tests.helpers.keys import add_key

    assert [plural(n, "key") for n in (0, 1, 5)] == ["no keys", "1 key", "5 keys"]
    assert plural(2, "alias", "aliases") == "2 aliases"
    assert [duration(s) for s in (86400, 5400, 10, 0.5)] == [
        "1 day",
        "90 minutes",
        "10 seconds",
        "0.5 seconds",
    ]
    add_key(app, "erin")
    add_key(app, "erin")
    client = admin_client(app)
    page = client.get("/admin/users/1").get_data(as_text=True)
    assert "· 2 keys" in page and "key(s)" not in page
    assert "for 1 day" in client.get("/admin/cache/").get_data(as_text=True)
    assert "every 10 seconds" in client.get("/admin/backends").get_data(as_text=True)


def test_a_cache_hit_keeps_its_timings_apart_from_the_original_calls(app):
    from tests.history.test_views import seed

    stats = {"total_duration": 2_500_000_000, "eval_count": 10, "eval_duration": 10**9}
    hit, fresh = seed(app, 1, cache_hit=True, stats=stats) + seed(app, 1, stats=stats)
    client = admin_client(app)
    page = client.get(f"/history/{hit}").get_data(as_text=True)
    start = page.index('id="original-timings"')
    assert "not this call" in page[start:] and "(from the cache)" in page[:start]
    assert "2.5 s" in page[start:] or "2,500" in page[start:]  # the original's time
    assert 'id="original-timings"' not in client.get(f"/history/{fresh}").text


def test_a_chat_preview_shows_its_turns_and_its_latest_question(app):
    from tests.history.test_views import seed

    chat = "You are a helpful assistant. " * 8 + "\nhi\nhello!\nwhat is a haystack?"
    seed(app, 1, prompt_text=chat)
    client = admin_client(app)
    page = client.get("/history/").get_data(as_text=True)
    start = page.index('<span class="prompt">')
    preview = page[start : page.index("</span>", start)]
    assert "hi ⏎ hello! ⏎ what is a haystack?" in preview  # turns apart, the latest
    found = client.get("/history/?q=helpful").get_data(as_text=True)
    assert "<mark>helpful</mark>" in found  # a search still shows its hit


def test_the_overview_lists_the_gateways_recent_events_as_text(app):
    from ollama_gate.events.models import Event

    client = admin_client(app)
    page = client.get("/admin/overview").get_data(as_text=True)
    assert 'id="gateway-events"' not in page and "No event yet" in page
    with app.app_context():
        db.session.add(
            Event(
                kind="backend.down",
                subject="backend:gpu1",
                message="backend gpu1 is down <b>refused</b>",
                dedupe="t1",
            )
        )
        db.session.commit()
    page = client.get("/admin/overview").get_data(as_text=True)
    start = page.index('id="gateway-events"')
    table = page[start : page.index("</table>", start)]
    assert "backend.down" in table
    assert "&lt;b&gt;refused&lt;/b&gt;" in table and "<b>refused" not in table
    assert "/admin/events" in page
