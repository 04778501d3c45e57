"""Untrusted prompts, answers and model names stay text in a real browser (Chromium)."""

from __future__ import annotations

import json
import uuid

import pytest
import requests
from sqlalchemy import select

from ollama_gate.extensions import db
from ollama_gate.history.models import Request
from tests.history.test_live import wait_for_records

pytestmark = pytest.mark.browser

EVIL = (
    '<script>window.__pwned = 1; alert("x")</script><b id="evil-b">bold</b> '
    '<img id="evil-img" src=x onerror="window.__pwned = 2">'
)


@pytest.fixture()
def page(chromium):
    """A fresh headless Chromium page that notes every dialog it was asked to show."""
    pg = chromium.new_page()
    dialogs: list[str] = []
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pg.dialogs = dialogs
    return pg


def assert_inert(page) -> None:
    """Nothing from the record ran or became markup."""
    assert page.dialogs == []
    assert page.evaluate("window.__pwned === undefined")
    assert (
        page.locator("#evil-b").count() == 0 and page.locator("#evil-img").count() == 0
    )
    assert page.locator("script:not([src])").count() == 0


def test_prompt_with_script_is_shown_escaped_everywhere(gateway, fake, page):
    user = f"xss-{uuid.uuid4().hex[:8]}"
    key = gateway.key(user)
    headers = {"Authorization": f"Bearer {key}"}
    chat = {
        "model": "llama3.2",
        "stream": True,
        "options": {"num_predict": 3},
        "messages": [
            {"role": "system", "content": EVIL},
            {"role": "user", "content": EVIL},
        ],
    }
    with requests.post(
        gateway.url + "/api/chat", json=chat, headers=headers, stream=True
    ) as resp:
        assert resp.status_code == 200 and resp.content
    requests.post(
        gateway.url + "/api/generate",
        headers=headers,
        json={"model": EVIL, "prompt": "x"},
    )  # 404, its model name is recorded
    rows = wait_for_records(gateway, user, 2)
    assert len(rows) == 2
    with gateway.app.app_context():
        chat_id = db.session.execute(
            select(Request.id).where(
                Request.user_name == user, Request.endpoint == "/api/chat"
            )
        ).scalar_one()
    admin = f"admin-{uuid.uuid4().hex[:6]}"
    gateway.cli("admins", "create", admin, "--password", "browser test password 1")

    page.goto(gateway.url + "/admin/login")
    page.fill("input[name=name]", admin)
    page.fill("input[name=password]", "browser test password 1")
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_load_state()

    page.goto(f"{gateway.url}/history/?user={user}")
    assert page.locator("table.history-list tbody tr").count() == 2
    snippets = page.locator("td.snippet").all_inner_texts()
    assert any("<script>window.__pwned" in s for s in snippets)  # its latest turn
    assert EVIL in page.locator("table.history-list").inner_text()  # the model column
    assert_inert(page)

    page.goto(f"{gateway.url}/history/{chat_id}")
    turns = page.locator(".turn pre.text").all_inner_texts()
    assert turns[:2] == [EVIL, EVIL] and turns[2] == "The quick brown"
    assert (
        json.loads(page.locator("pre.json").first.text_content())["messages"][1][
            "content"
        ]
        == EVIL
    )
    assert_inert(page)

    page.goto(f"{gateway.url}/history/dashboard?user={user}")
    assert page.locator("svg.chart").count() >= 4
    labels = page.locator("svg.chart text, .hbar-name").all_text_contents()
    assert any(label.startswith("<script>window") for label in labels)
    assert_inert(page)
