"""Every admin page in a real Chromium at 1280 and 390 px, light and dark: nothing
wider than a phone's viewport, the history text column in view on a laptop, and the
key flows (a reload mints nothing, the all-keys search, rotate). Screenshots are kept
in tests/artifacts/ux/."""

from __future__ import annotations

import uuid

import pytest
import requests

from ollama_gate.extensions import db
from ollama_gate.models import ApiKey
from tests.helpers.paths import ARTIFACTS
from tests.helpers.services import CHROMIUM, CHROMIUM_ARGS
from tests.history.test_live import wait_for_records

pytestmark = pytest.mark.browser

SHOTS = ARTIFACTS / "ux"
SIZES = {"1280": {"width": 1280, "height": 800}, "390": {"width": 390, "height": 844}}
PASSWORD = "browser ux password"


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the whole module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


def shot(page, name: str) -> None:
    """Keep a full-page screenshot as a test artifact."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def log_in(page, gateway, admin: str) -> None:
    page.goto(gateway.url + "/admin/login")
    page.fill("#name", admin)
    page.fill("#password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/overview")


@pytest.fixture(scope="module")
def world(gateway, fake_server):
    """An admin, a user with a key and a few recorded calls (one with long text)."""
    tag = uuid.uuid4().hex[:6]
    admin, user = f"ux-{tag}", f"ux-user-{tag}"
    gateway.cli("admins", "create", admin, "--password", PASSWORD)
    plain = gateway.key(user, name="work laptop", calls_per_day=500)
    headers = {"Authorization": f"Bearer {plain}"}
    long_prompt = "Explain the <b>difference</b> " + "between these things " * 40
    for prompt in ("hello there", long_prompt, "a needle in a haystack"):
        body = {"model": "llama3.2", "prompt": prompt, "stream": False}
        requests.post(gateway.url + "/api/generate", json=body, headers=headers)
    requests.get(gateway.url + "/api/tags", headers={"Authorization": "Bearer og_x"})
    rows = wait_for_records(gateway, user, 3)
    with gateway.app.app_context():
        key = db.session.execute(
            db.select(ApiKey).where(ApiKey.prefix == plain[:11])
        ).scalar_one()
        ids = {"key_id": key.id, "user_id": key.user_id}
    return {"admin": admin, "user": user, "plain": plain, "record": rows[0].id, **ids}


def pages(world) -> dict[str, str]:
    """Every admin page worth a look, by a short name."""
    k, u = world["key_id"], world["user"]
    return {
        "users": "/admin/users",
        "user": f"/admin/users/{world['user_id']}",
        "keys": "/admin/keys",
        "key": f"/admin/keys/{k}",
        "rotate": f"/admin/keys/{k}/rotate",
        "revoke": f"/admin/keys/{k}/revoke",
        "audit": "/admin/audit",
        "admins": "/admin/admins",
        "account": "/admin/account",
        "history": f"/history/?user={u}",
        "search": f"/history/?user={u}&q=needle",
        "call": f"/history/{world['record']}",
        "dashboard": "/history/dashboard",
        "backends": "/admin/backends",
        "cache": "/admin/cache/",
        "my-usage-form": "/gate/usage",
    }


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", ["1280", "390"])
def test_every_page_fits_the_screen(browser, gateway, world, size, scheme):
    context = browser.new_context(
        viewport=SIZES[size], color_scheme=scheme, is_mobile=size == "390"
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(gateway.url + "/admin/login")
    shot(page, f"login-{size}-{scheme}")
    log_in(page, gateway, world["admin"])
    wide = []
    for name, path in pages(world).items():
        page.goto(gateway.url + path)
        assert page.locator("h1").count() >= 1, name
        shot(page, f"{name}-{size}-{scheme}")
        if size == "390" and not page.evaluate(
            "document.documentElement.scrollWidth <= window.innerWidth"
        ):
            wide.append(name)
    page.goto(gateway.url + "/gate/usage")  # a key holder's own page, with the key
    page.fill("#key", world["plain"])
    page.click("input[type=submit]")
    assert page.locator("#usage-day").count() == 1
    assert world["plain"] not in page.content()
    shot(page, f"my-usage-{size}-{scheme}")
    if not page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"):
        wide.append("my-usage")
    assert wide == []
    if scheme == "dark":
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(17, 21, 29)"
    assert errors == []
    context.close()


def test_history_text_column_is_in_view_on_a_laptop(browser, gateway, world):
    context = browser.new_context(viewport=SIZES["1280"])
    page = context.new_page()
    log_in(page, gateway, world["admin"])
    page.goto(f"{gateway.url}/history/?user={world['user']}&q=NEEDLE")
    cell = page.locator("td.snippet").first.bounding_box()
    assert cell["x"] >= 0 and cell["x"] + cell["width"] <= 1280
    assert cell["width"] >= 300  # room to read, not a sliver
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.locator("td.snippet mark").first.inner_text() == "needle"
    context.close()


def api_status(gateway, key: str) -> int:
    headers = {"Authorization": f"Bearer {key}"}
    return requests.get(gateway.url + "/api/tags", headers=headers).status_code


def test_create_reload_find_and_rotate_in_the_browser(browser, gateway, world):
    context = browser.new_context(viewport=SIZES["390"], is_mobile=True)
    page = context.new_page()
    log_in(page, gateway, world["admin"])
    page.goto(f"{gateway.url}/admin/users/{world['user_id']}")
    page.fill("#name", "phone app")
    page.click("summary")  # Advanced
    page.fill("#calls_per_day", "42")
    page.click("[data-add-model='llama3.2:latest']")
    assert page.input_value("#models") == "llama3.2:latest"
    page.click("input[value='Create key']")
    page.wait_for_url("**/created")
    plain = page.locator("#new-key").inner_text().strip()
    summary = page.locator("#key-summary").inner_text()
    assert "42 calls" in summary and "llama3.2:latest" in summary
    assert f"OPENAI_API_KEY={plain}" in page.locator("#setup-openai").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, "created-390-light")
    with gateway.app.app_context():
        before = db.session.execute(db.select(db.func.count(ApiKey.id))).scalar_one()
    page.reload()
    assert page.locator("#shown-already").is_visible()
    assert plain not in page.content()
    with gateway.app.app_context():
        after = db.session.execute(db.select(db.func.count(ApiKey.id))).scalar_one()
    assert after == before
    assert api_status(gateway, plain) == 200

    page.click("text=Menu")  # the folded menu
    page.click("nav >> text=Keys")
    page.fill("#q", plain[:8])
    page.click("button:has-text('Search')")
    rows = page.locator("#all-keys tbody tr")
    assert rows.count() == 1 and plain[:11] in rows.inner_text()
    shot(page, "keys-search-390-light")
    rows.locator("a code").click()
    page.click("text=Rotate…")
    page.select_option("#grace", "0")
    page.click("input[value='Rotate key']")
    page.wait_for_url("**/created")
    new_plain = page.locator("#new-key").inner_text().strip()
    assert "42 calls" in page.locator("#key-summary").inner_text()
    assert api_status(gateway, plain) == 403 and api_status(gateway, new_plain) == 200
    context.close()
