"""The admin UI in a real headless Chromium against the app under gunicorn."""

from __future__ import annotations

import uuid

import pytest
import requests

from tests.helpers.paths import ARTIFACTS

pytestmark = pytest.mark.browser

SHOTS = ARTIFACTS / "admin"


@pytest.fixture()
def browser(chromium):
    """The machine's Chromium (conftest's ``chromium``; skipped where it is not)."""
    return chromium


def shot(page, name: str) -> None:
    """Keep a full-page screenshot as a test artifact."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def api_status(gateway, key: str) -> int:
    """Status of ``GET /api/tags`` through the gateway with ``key``."""
    headers = {"Authorization": f"Bearer {key}"}
    return requests.get(
        gateway.url + "/api/tags", headers=headers, timeout=10
    ).status_code


def test_hand_out_and_withdraw_a_key_in_the_browser(gateway, fake, browser):
    tag = uuid.uuid4().hex[:6]
    admin, password, user = f"root-{tag}", f"browser-pw-{tag}", f"laptop-{tag}"
    gateway.cli("admins", "create", admin, "--password", password)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    problems: list[str] = []  # CSP violations and script errors show up here
    page.on(
        "console",
        lambda m: "Content Security Policy" in m.text and problems.append(m.text),
    )
    page.on("pageerror", lambda e: problems.append(str(e)))

    page.goto(gateway.url + "/admin/users")  # not logged in: sent to the login form
    assert "/admin/login" in page.url
    page.fill("#name", admin)
    page.fill("#password", "not the password")
    page.click("button[type=submit], input[type=submit]")
    assert page.locator(".flash.error").inner_text() == "Wrong name or password."
    shot(page, "01-login-failed")
    page.fill("#name", admin)
    page.fill("#password", password)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/users")
    assert page.locator(".who a[title='Your account']").inner_text() == admin
    shot(page, "02-users")

    page.fill("#name", user)
    page.click("input[value='Create user']")
    page.wait_for_url("**/admin/users/*")
    assert page.locator("h1").inner_text() == user
    assert "has no keys yet" in page.locator(".empty").inner_text()
    shot(page, "03-user-empty")

    page.fill("#name", "browser test")
    page.click("input[value='Create key']")
    assert "you will not see it again" in page.locator(".warning-box").inner_text()
    key = page.locator("#new-key").inner_text().strip()
    assert key.startswith("og_") and len(key) >= 46
    page.click("button[data-copy]")  # served JS runs under the CSP
    page.wait_for_function(
        "document.querySelector('button[data-copy]').textContent !== 'Copy'"
    )
    shot(page, "04-key-created-once")
    assert api_status(gateway, key) == 200

    page.click("text=Done, back to")
    assert key not in page.content()  # shown once only
    row = page.locator("tbody tr", has_text=key[:11])
    assert row.locator(".badge").inner_text() == "active"
    shot(page, "05-user-with-key")
    row.locator("text=Details").click()
    assert "worker at once" in page.locator(".panel").first.inner_text()
    shot(page, "06-key-page")
    page.go_back()
    row = page.locator("tbody tr", has_text=key[:11])

    row.locator("text=Revoke…").click()
    assert "cannot be undone" in page.locator(".danger-box").inner_text()
    shot(page, "07-revoke-confirm")
    page.click("button.danger")
    page.wait_for_url("**/admin/users/*")
    assert "revoked" in page.locator(".flash.success").inner_text()
    row = page.locator("tbody tr", has_text=key[:11])
    assert row.locator(".badge").inner_text() == "revoked"
    shot(page, "08-key-revoked")
    assert api_status(gateway, key) == 403
    assert api_status(gateway, key[:-1] + ("A" if key[-1] != "A" else "B")) == 401

    page.click("nav >> text=Audit log")
    audit = page.locator("table.list").inner_text()
    for entry in (
        "Key revoked",
        "Key created",
        "User created",
        "Logged in",
        "Failed login",
    ):
        assert entry in audit
    shot(page, "09-audit")

    phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone.context.add_cookies(page.context.cookies())
    phone.goto(gateway.url + "/admin/users")
    assert phone.evaluate(
        "document.documentElement.scrollWidth <= window.innerWidth + 1"
    )
    shot(phone, "10-users-phone")

    page.click("text=Log out")
    page.wait_for_url("**/admin/login")
    page.goto(gateway.url + "/admin/users")
    assert "/admin/login" in page.url
    assert problems == []
