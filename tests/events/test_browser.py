"""The events page in a real Chromium at 1280 and 390 px, light and dark: long
messages, subjects and webhook URLs fit the screen; a webhook added in the browser
shows its secret once."""

from __future__ import annotations

import uuid

import pytest

from ollama_gate.events.models import Delivery, Event, Hook
from ollama_gate.extensions import db
from tests.helpers.paths import ARTIFACTS
from tests.helpers.services import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser
SHOTS = ARTIFACTS / "events"
SIZES = {"1280": {"width": 1280, "height": 800}, "390": {"width": 390, "height": 844}}
PASSWORD = "browser events password"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def admin(gateway) -> str:
    """An admin, a long-winded event with two attempts and a webhook with a long URL."""
    name = f"ev-{uuid.uuid4().hex[:6]}"
    gateway.cli("admins", "create", name, "--password", PASSWORD)
    with gateway.app.app_context():
        hook = Hook(
            url="https://hooks.example.com/services/" + "T0KEN" * 20, secret="s" * 20
        )
        event = Event(
            kind="backend.down",
            subject="backend:" + "gpu" * 20,
            message="Backend is down: " + "connection refused " * 15,
            data={},
            dedupe=uuid.uuid4().hex,
        )
        db.session.add_all([hook, event])
        db.session.flush()
        for n, status in ((1, 500), (2, 200)):
            db.session.add(
                Delivery(
                    event_id=event.id,
                    hook_id=hook.id,
                    url=hook.url,
                    attempt=n,
                    status=status,
                    done=True,
                )
            )
        db.session.commit()
    return name


def log_in(page, gateway, name: str) -> None:
    page.goto(gateway.url + "/admin/login")
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/overview")


@pytest.mark.parametrize(
    ("size", "scheme"), [("1280", "light"), ("390", "dark"), ("390", "light")]
)
def test_the_events_page_fits_the_screen(browser, gateway, admin, size, scheme):
    context = browser.new_context(
        viewport=SIZES[size], color_scheme=scheme, is_mobile=size == "390"
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    log_in(page, gateway, admin)
    page.goto(gateway.url + "/admin/events/")
    assert page.locator("h1").inner_text() == "Events"
    assert page.locator("#events").count() == 1
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"events-{size}-{scheme}.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    if scheme == "dark":
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(17, 21, 29)"
    assert errors == []
    context.close()


def test_a_webhook_added_in_the_browser_shows_its_secret_once(browser, gateway, admin):
    context = browser.new_context(viewport=SIZES["390"], is_mobile=True)
    page = context.new_page()
    log_in(page, gateway, admin)
    page.goto(gateway.url + "/admin/events/")
    page.fill("#url", "https://example.com/gate-hook")
    page.fill("#kinds", "backend.*")
    page.click("#hook-form input[type=submit]")
    secret = page.locator("#hook-secret").inner_text()
    assert secret.startswith("whsec_")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.goto(gateway.url + "/admin/events/")
    assert "example.com/gate-hook" in page.content()
    assert secret not in page.content()
    context.close()
