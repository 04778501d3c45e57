"""The backends page in a real headless Chromium against a live fleet: see each
backend's state and models, add one with a token, disable it, add an alias."""

from __future__ import annotations

import uuid

import pytest
import requests

from tests.helpers.live import LiveGateway
from tests.helpers.paths import ARTIFACTS

pytestmark = pytest.mark.browser

SHOTS = ARTIFACTS / "routing"


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_manage_backends_in_the_browser(tmp_path, pool, chromium):
    gpu1, gpu2, gpu3 = pool
    gw = LiveGateway(
        tmp_path,
        f"gpu1={gpu1.url},gpu2={gpu2.url}",
        env={"OLLAMA_GATE_HEALTH_INTERVAL": "0.3"},
    ).start()
    try:
        tag = uuid.uuid4().hex[:6]
        gw.cli("admins", "create", f"root-{tag}", "--password", f"pw-{tag}-long-enough")
        page = chromium.new_page(viewport={"width": 1280, "height": 900})
        page.goto(gw.url + "/admin/login")
        page.fill("#name", f"root-{tag}")
        page.fill("#password", f"pw-{tag}-long-enough")
        page.click("input[type=submit]")
        page.click("nav >> text=Backends")
        page.wait_for_url("**/admin/backends")
        rows = page.locator("table.list").first.locator("tbody tr")
        assert rows.count() == 2
        assert page.title() == "Backends · ollama-gate"
        assert "llama3:70b" in rows.nth(1).inner_text()
        assert "up" in rows.nth(0).locator(".badge").inner_text()
        shot(page, "01-backends")

        page.fill("#add-name", "gpu3")
        page.fill("#add-url", gpu3.url)
        page.fill("#add-token", "secret-token-123")
        page.click("input[value='Add backend']")
        page.wait_for_selector("text=Added backend gpu3")
        assert rows.count() == 3
        assert "phi3:mini" in rows.nth(2).inner_text()
        assert "secret-token-123" not in page.content()
        shot(page, "02-added")

        rows.nth(2).locator("button", has_text="Disable").click()
        page.wait_for_selector("text=Backend gpu3 disabled")
        assert "disabled" in rows.nth(2).locator(".badge").inner_text()

        page.fill("#alias-alias", "fast")
        page.fill("#alias-model", "phi3:mini")
        page.click("input[value='Add alias']")
        page.wait_for_selector("text=fast now runs phi3:mini")
        shot(page, "03-alias")

        page.set_viewport_size({"width": 390, "height": 800})
        width = page.evaluate("document.documentElement.scrollWidth")
        shot(page, "04-phone")
        assert width <= 390 + 1, f"the page is {width}px wide at 390px"

        key = gw.key()
        listed = requests.get(
            gw.url + "/api/tags", headers={"Authorization": f"Bearer {key}"}, timeout=10
        ).json()["models"]
        # gpu3 is disabled: neither its model nor an alias of it is listed
        assert "phi3:mini" not in {m["name"] for m in listed}
        audit = gw.cli("backends", "list").stdout
        assert "gpu3  disabled" in audit and "secret-token-123" not in audit
    finally:
        gw.stop()
