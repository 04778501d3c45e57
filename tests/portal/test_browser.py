"""The portal in a real headless Chromium at 1280 and 390 px, light and dark: a
member signs in, lands on their keys, makes a key within the team's policy and sees
it once with the settings to copy; nothing scrolls sideways on a phone. Screenshots
go to the test's tmp dir."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
import requests

from ollama_gate.models import utcnow
from tests.admin.test_ui_browser import OVERFLOW_JS, SIZES
from tests.admin.test_ui_browser import browser as _browser  # noqa: F401
from tests.helpers.admin import PASSWORD, make_person
from tests.helpers.live import gateway_fixture

pytestmark = pytest.mark.browser
browser = _browser
portal_gateway = gateway_fixture("portal_gateway")


@pytest.fixture(scope="module")
def team(portal_gateway):
    """Team ``ml``: at most three keys of 30 days, expiry required, llama3 models."""
    name = f"ml-{uuid.uuid4().hex[:6]}"
    portal_gateway.cli(
        "teams",
        "create",
        name,
        "--models",
        "llama3*,qwen*",
        "--portal-max-keys",
        "3",
        "--portal-max-days",
        "30",
        "--portal-expiry-required",
        "on",
        "--portal-models",
        "llama3*",
    )
    return name


def member(gw, team: str) -> str:
    """A new member of ``team`` with the test password."""
    name = f"m-{uuid.uuid4().hex[:8]}"
    make_person(gw.app, name, PASSWORD, role="member", team=team)
    return name


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", ["1280", "390"])
def test_a_member_makes_a_working_key_in_the_portal(
    browser, portal_gateway, team, size, scheme, tmp_path
):
    gw, name = portal_gateway, member(portal_gateway, team)
    context = browser.new_context(
        viewport=SIZES[size], is_mobile=size == "390", color_scheme=scheme
    )
    page = context.new_page()
    page.goto(gw.url + "/admin/login")
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_load_state()
    assert page.url.rstrip("/").endswith("/portal")  # members land on their keys
    assert page.locator("#policy").inner_text().startswith(f"Rules of team {team}")
    page.screenshot(path=str(tmp_path / f"portal-{size}-{scheme}.png"), full_page=True)
    if size == "390":
        assert page.evaluate(OVERFLOW_JS) == []
    # past the longest expiry: refused, with the reason at the field
    page.fill("#name", "laptop")
    page.fill("#expires", (utcnow().date() + timedelta(days=45)).isoformat())
    page.click("#new-key-form input[type=submit]")
    page.wait_for_load_state()
    assert "at most 30 days" in page.locator("#new-key-form").inner_text()
    page.fill("#expires", (utcnow().date() + timedelta(days=7)).isoformat())
    chip = page.locator("button.chip[data-add-model]").first
    chip.click()
    assert page.input_value("#models")
    page.click("#new-key-form input[type=submit]")
    page.wait_for_load_state()
    assert re.search(r"/portal/keys/\d+/created$", page.url)
    secret = page.locator("#new-key").inner_text().strip()
    assert secret.startswith("og_")
    assert secret in page.locator("#setup-openai").inner_text()
    page.screenshot(path=str(tmp_path / f"created-{size}-{scheme}.png"), full_page=True)
    if size == "390":
        assert page.evaluate(OVERFLOW_JS) == []
    body = {"model": "llama3.2", "prompt": "hi", "stream": False}
    answer = requests.post(
        gw.url + "/api/generate",
        json=body,
        headers={"Authorization": f"Bearer {secret}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    for path in ("/portal/usage", "/portal/history", "/portal/models"):
        page.goto(gw.url + path)
        assert page.locator("#portal-links a").count() == 4  # the main nav
        if size == "390":
            assert page.evaluate(OVERFLOW_JS) == [], path
        shot = path.rsplit("/", 1)[1]
        page.screenshot(
            path=str(tmp_path / f"{shot}-{size}-{scheme}.png"), full_page=True
        )
    context.close()
