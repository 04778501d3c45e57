"""The cache's CLI (``cache stats | clear``) and admin page (figures, a CSRF-checked
clear button, audited)."""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from ollama_gate.audit import AuditLog
from ollama_gate.extensions import db
from tests.helpers.admin import csrf_token, login, make_admin

EMBED = {"model": "nomic-embed-text", "input": "Why is the sky blue?"}


@pytest.fixture()
def cached(app, key, fake):
    """Two embeddings calls of ``key``: one miss, one hit (one entry cached)."""
    client = app.test_client()
    for _ in range(2):
        client.post(
            "/api/embed", json=EMBED, headers={"Authorization": f"Bearer {key}"}
        )
        app.extensions["ollama_gate"].recorder.flush()
    return app


def test_cli_stats_and_clear(cached, runner):
    out = runner.invoke(args=["cache", "stats"])
    assert out.exit_code == 0, out.output
    lines = dict(line.split("\t") for line in out.output.splitlines())
    assert lines["store"] == "database" and lines["mode"].startswith("deterministic")
    assert (lines["entries"], lines["hits"], lines["misses"]) == ("1", "1", "1")
    assert lines["hit rate"] == "50.0%" and int(lines["bytes"]) > 0
    cleared = runner.invoke(args=["cache", "clear"])
    assert cleared.exit_code == 0 and "cleared 1 cached answers" in cleared.output
    again = dict(
        line.split("\t")
        for line in runner.invoke(args=["cache", "stats"]).output.splitlines()
    )
    assert (again["entries"], again["hit rate"]) == ("0", "-")
    with cached.app_context():
        entry = db.session.execute(db.select(AuditLog)).scalars().one()
        assert (entry.action, entry.admin_name) == ("cache_cleared", "cli")


def test_the_admin_page_needs_a_login(app):
    client = app.test_client()
    assert client.get("/admin/cache/").status_code == 302
    assert client.post("/admin/cache/clear").status_code in (302, 400)


def test_the_admin_page_shows_the_figures_and_clears_with_csrf(cached, fake):
    make_admin(cached)
    client = cached.test_client()
    login(client)
    page = client.get("/admin/cache/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "no-store" in page.headers["Cache-Control"]
    assert "1 of at most 10000" in html and "50.0% (1 hits, 1 misses)" in html
    assert client.post("/admin/cache/clear").status_code == 400  # no CSRF token
    with cached.app_context():
        assert cached.extensions["ollama_gate_cache"].store.stats()["entries"] == 1
    token = csrf_token(client, "/admin/cache/")
    done = client.post(
        "/admin/cache/clear", data={"csrf_token": token}, follow_redirects=True
    )
    assert "Cache cleared: 1 cached answers removed." in done.get_data(as_text=True)
    assert "no lookups yet" in done.get_data(as_text=True)
    with cached.app_context():
        entry = db.session.execute(
            db.select(AuditLog).where(AuditLog.action == "cache_cleared")
        ).scalar_one()
        assert entry.admin_name == "root" and entry.detail == "1 entries"


@pytest.mark.browser
def test_the_page_in_a_browser_clears_the_cache(gateway, fake, chromium):
    """Log in, read the figures, press the button: the live gateway's cache is empty."""
    tag = uuid.uuid4().hex[:6]
    admin, password = f"cache-{tag}", f"cache-pw-{tag}"
    gateway.cli("admins", "create", admin, "--password", password)
    key = gateway.key(f"cache-page-{tag}")
    for _ in range(30):  # until the first call's answer is stored and served
        answer = requests.post(
            gateway.url + "/api/embed",
            json={**EMBED, "input": tag},
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
        if answer.headers["X-Ollama-Gate-Cache"] == "hit":
            break
        time.sleep(0.1)
    assert answer.headers["X-Ollama-Gate-Cache"] == "hit"
    page = chromium.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on(
        "console",
        lambda m: "Content Security Policy" in m.text and problems.append(m.text),
    )
    page.goto(gateway.url + "/admin/cache/")
    page.fill("#name", admin)
    page.fill("#password", password)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/cache/")
    stats = page.locator("#cache-stats").inner_text()
    assert "Hit rate" in stats and "no lookups yet" not in stats
    page.click("button.danger")
    page.wait_for_url("**/admin/cache/")
    assert "Cache cleared" in page.locator(".flash.success").inner_text()
    assert "0 of at most" in page.locator("#cache-stats").inner_text()
    again = requests.post(
        gateway.url + "/api/embed",
        json={**EMBED, "input": tag},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert again.headers["X-Ollama-Gate-Cache"] == "miss"
    assert problems == []


def test_the_dashboard_shows_the_hit_rate_per_model_and_key(cached, key):
    make_admin(cached)
    client = cached.test_client()
    login(client)
    page = client.get("/history/dashboard?range=24h").get_data(as_text=True)
    section = page[page.index("<h2>Cache hits</h2>") :]
    assert "model nomic-embed-text" in section and "50.0%" in section  # 1 of 2
    assert f"key {key[:11]}" in section
