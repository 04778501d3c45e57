"""The admin UI's second round in a real headless Chromium at 1280 and 390 px, against a
gateway of its own with one backend down: plain-text titles, the phone menu, tables
that keep their layout, history's width and errors, and the task flows (a key from the
Keys page, a backend edited and removed). Screenshots go to tests/artifacts/ui2/."""

from __future__ import annotations

import uuid

import pytest
import requests

from tests.helpers.live import gateway_fixture
from tests.helpers.paths import ARTIFACTS
from tests.helpers.services import CHROMIUM, CHROMIUM_ARGS
from tests.history.test_live import wait_for_records

pytestmark = pytest.mark.browser

SHOTS = ARTIFACTS / "ui2"
SIZES = {"1280": {"width": 1280, "height": 800}, "390": {"width": 390, "height": 844}}
PASSWORD = "admin ui password"
DOWN_URL = "http://127.0.0.1:9"  # the discard port: nothing listens, so it is down

ui_gateway = gateway_fixture("ui_gateway", env={"OLLAMA_GATE_HEALTH_INTERVAL": "0.5"})

# text ranges that take more than one line: a word broken inside a name or URL
BROKEN_JS = """([root, words]) => {
  const out = [];
  const top = document.querySelector(root);
  const walker = document.createTreeWalker(top, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (const word of words) {
      let at = node.data.indexOf(word);
      while (at >= 0) {
        const range = document.createRange();
        range.setStart(node, at); range.setEnd(node, at + word.length);
        const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
        if (tops.size > 1) out.push(word);
        at = node.data.indexOf(word, at + 1);
      }
    }
  }
  return out;
}"""

# elements reaching past the viewport's right edge, outside a scrolling box
OVERFLOW_JS = """() => {
  const w = document.documentElement.clientWidth, out = [];
  const scrolls = el => {
    for (let p = el.parentElement; p; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX;
      if (o === 'auto' || o === 'scroll') return true;
    }
    return false;
  };
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width && r.right > w + 1 && !scrolls(el))
      out.push(el.tagName + '.' + el.className);
  }
  return out.slice(0, 5);
}"""


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


@pytest.fixture(scope="module")
def world(ui_gateway):
    """An admin, a user with a key and a few calls, and a backend that is down."""
    gw, tag = ui_gateway, uuid.uuid4().hex[:6]
    admin, user = f"ui-{tag}", f"ui-user-{tag}"
    gw.cli("admins", "create", admin, "--password", PASSWORD)
    gw.cli("backends", "add", "offline-box", DOWN_URL)
    plain = gw.key(user, name="work laptop")
    headers = {"Authorization": f"Bearer {plain}"}
    for prompt in ("hello there", "what is a haystack"):
        body = {"model": "llama3.2", "prompt": prompt, "stream": False}
        requests.post(gw.url + "/api/generate", json=body, headers=headers, timeout=30)
    rows = wait_for_records(gw, user, 2)
    return {"admin": admin, "user": user, "plain": plain, "record": rows[0].id}


def new_page(browser, gw, world, size: str, scheme: str = "light"):
    """A logged-in page at ``size`` px in the ``scheme`` colour scheme."""
    context = browser.new_context(
        viewport=SIZES[size], is_mobile=size == "390", color_scheme=scheme
    )
    page = context.new_page()
    page.goto(gw.url + "/admin/login")
    page.fill("#name", world["admin"])
    page.fill("#password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_load_state()
    return page


def user_id(page, gw, world) -> str:
    page.goto(gw.url + "/admin/users?q=" + world["user"])
    href = page.locator("tbody a").first.get_attribute("href")
    return href.rsplit("/", 1)[1]


def admin_pages(page, gw, world) -> dict[str, str]:
    """Every admin page, by a short name."""
    uid = user_id(page, gw, world)
    return {
        "overview": "/admin/overview",
        "users": "/admin/users",
        "user": f"/admin/users/{uid}",
        "keys": "/admin/keys",
        "audit": "/admin/audit",
        "admins": "/admin/admins",
        "account": "/admin/account",
        "history": "/history/",
        "call": f"/history/{world['record']}",
        "dashboard": "/history/dashboard",
        "backends": "/admin/backends",
        "cache": "/admin/cache/",
        "settings": "/admin/settings",
        "new-key": "/admin/keys/new",
        "edit-backend": "/admin/backends/offline-box/edit",
        "remove-backend": "/admin/backends/offline-box/remove",
    }


@pytest.mark.parametrize(("size", "scheme"), [("1280", "light"), ("390", "dark")])
def test_every_title_is_plain_text_and_nothing_overflows(
    browser, ui_gateway, world, size, scheme
):
    page = new_page(browser, ui_gateway, world, size, scheme)
    bad_titles, wide = {}, {}
    for name, path in admin_pages(page, ui_gateway, world).items():
        page.goto(ui_gateway.url + path)
        title = page.title()
        if "<" in title or "csrf" in title.lower() or len(title) > 80:
            bad_titles[name] = title
        assert title.endswith(" · ollama-gate"), (name, title)
        over = page.evaluate(OVERFLOW_JS)
        if over:
            wide[name] = over
        shot(page, f"{name}-{size}-{scheme}")
    assert bad_titles == {}
    assert wide == {}
    page.context.close()


def test_the_phone_menu_opens_as_a_full_width_list(browser, ui_gateway, world):
    page = new_page(browser, ui_gateway, world, "390")
    page.goto(ui_gateway.url + "/admin/keys")
    assert not page.locator("nav.nav").is_visible()
    page.click("text=Menu")
    shot(page, "menu-open-390")
    links = page.locator("nav.nav a")
    assert links.count() >= 8
    boxes = [links.nth(i).bounding_box() for i in range(links.count())]
    assert all(b["width"] >= 390 * 0.8 for b in boxes), boxes  # full width
    assert len({round(b["x"]) for b in boxes}) == 1  # one column
    assert all(a["y"] < b["y"] for a, b in zip(boxes, boxes[1:], strict=False))
    page.context.close()


@pytest.mark.parametrize("size", ["1280", "390"])
def test_backends_table_keeps_names_whole_with_a_backend_down(
    browser, ui_gateway, fake_server, world, size
):
    page = new_page(browser, ui_gateway, world, size)
    page.goto(ui_gateway.url + "/admin/backends")
    row = page.locator("table.list").first.locator("tbody tr", has_text="offline-box")
    assert "down" in row.locator(".badge").inner_text()
    words = [DOWN_URL, fake_server.url, "llama3.2:latest", "nomic-embed-text:latest"]
    shot(page, f"backends-down-{size}")
    assert page.evaluate(BROKEN_JS, ["table.list", words]) == []
    assert page.evaluate(OVERFLOW_JS) == []
    page.context.close()


def test_history_is_as_wide_as_the_other_pages(browser, ui_gateway, world):
    page = new_page(browser, ui_gateway, world, "1280")
    widths = {}
    for path in ("/admin/users", "/history/", "/history/dashboard"):
        page.goto(ui_gateway.url + path)
        widths[path] = page.locator("main").bounding_box()["width"]
    assert len(set(widths.values())) == 1, widths
    page.context.close()


def test_a_bad_history_filter_shows_the_styled_page_with_the_error(
    browser, ui_gateway, world
):
    page = new_page(browser, ui_gateway, world, "1280")
    response = page.goto(
        ui_gateway.url + "/history/?status=maybe&user=" + world["user"]
    )
    assert response.status == 400
    assert page.locator("header.topbar").count() == 1  # the site's page, styled
    error = page.locator("[role=alert]").inner_text()
    assert "status must be ok, error" in error
    assert page.input_value("input[name=status]") == "maybe"  # the form, to fix it
    shot(page, "history-bad-filter")
    response = page.goto(ui_gateway.url + "/history/dashboard?since=never")
    assert response.status == 400
    assert page.locator("header.topbar").count() == 1
    assert "since" in page.locator("[role=alert]").inner_text()
    page.context.close()


def api_status(gw, key: str) -> int:
    """Status of ``GET /api/tags`` through the gateway with ``key``."""
    headers = {"Authorization": f"Bearer {key}"}
    return requests.get(gw.url + "/api/tags", headers=headers, timeout=10).status_code


def test_a_key_from_the_keys_page_in_one_form(browser, ui_gateway, world):
    page = new_page(browser, ui_gateway, world, "390")
    page.goto(ui_gateway.url + "/admin/keys")
    page.click("text=New key")
    page.fill("#expires", "2001-01-01")  # a past date, and no user: two errors
    page.click("input[value='Create key']")
    summary = page.locator("#form-errors")
    assert summary.is_visible()
    assert summary.bounding_box()["y"] < SIZES["390"]["height"]  # at the top
    text = summary.inner_text()
    assert "User" in text and "Expires" in text and "later date" in text
    beside = page.locator(".field:has(#user) .errors").inner_text()
    assert "Pick a user" in beside
    assert page.locator(".field:has(#expires) .errors").is_visible()
    shot(page, "new-key-errors-390")

    page.select_option("#user", label=world["user"])
    page.fill("#expires", "")
    page.fill("#name", "from the keys page")
    page.click("input[value='Create key']")
    page.wait_for_url("**/created")
    plain = page.locator("#new-key").inner_text().strip()
    assert api_status(ui_gateway, plain) == 200
    link = page.locator("#self-service a").get_attribute("href")
    assert link == "/gate/usage"  # the key holder's own page, linked
    shot(page, "new-key-created-390")

    page.goto(ui_gateway.url + "/admin/keys/new")
    page.fill("#new_user", f"new-{world['user']}")
    page.click("input[value='Create key']")
    page.wait_for_url("**/created")
    assert f"new-{world['user']}" in page.locator("h1").inner_text()
    page.context.close()


def test_a_key_form_error_on_the_user_page_is_announced_at_the_top(
    browser, ui_gateway, world
):
    page = new_page(browser, ui_gateway, world, "1280")
    page.goto(ui_gateway.url + f"/admin/users/{user_id(page, ui_gateway, world)}")
    page.fill("#expires", "2001-01-01")
    page.click("input[value='Create key']")
    summary = page.locator("#form-errors")
    assert summary.is_visible() and "Expires" in summary.inner_text()
    assert summary.bounding_box()["y"] < SIZES["1280"]["height"]
    page.context.close()


def test_a_backend_added_edited_and_removed_through_the_ui(
    browser, ui_gateway, fake_server, world
):
    gw = ui_gateway
    page = new_page(browser, gw, world, "1280")
    page.goto(gw.url + "/admin/backends")
    page.fill("#add-name", "spare")
    page.fill("#add-url", fake_server.url)
    page.fill("#add-parallel", "2")
    page.click("input[value='Add backend']")
    page.wait_for_selector("text=Added backend spare")
    assert "parallel 2" in gw.cli("backends", "list").stdout.split("spare", 1)[1]

    row = page.locator("table.list").first.locator("tbody tr", has_text="spare")
    row.locator("text=Edit").click()
    assert page.input_value("#parallel") == "2"
    page.fill("#url", "nowhere")  # not a URL: said at the top and beside it
    page.fill("#token", "a-backend-token")
    page.click("input[value='Save changes']")
    assert "URL" in page.locator("#form-errors").inner_text()
    assert page.locator(".field:has(#url) .errors").is_visible()
    page.fill("#url", fake_server.url)
    page.fill("#weight", "3")
    page.fill("#parallel", "")
    page.fill("#token", "a-backend-token")
    page.click("input[value='Save changes']")
    page.wait_for_selector("text=Backend spare:")
    listed = gw.cli("backends", "list").stdout
    line = next(x for x in listed.splitlines() if x.startswith("spare"))
    assert "weight 3" in line and "parallel -" in line and "token set" in line
    assert "a-backend-token" not in page.content()
    shot(page, "backend-edited")

    page.fill("#route-model", "qwen2.5:7b")
    page.fill("#route-backends", "spare")
    page.click("input[value='Set route']")
    page.wait_for_selector("text=Route for qwen2.5:7b set")
    row = page.locator("table.list").first.locator("tbody tr", has_text="spare")
    row.locator("text=Remove…").click()
    assert page.title().startswith("Remove backend spare?")
    assert "qwen2.5:7b" in page.locator(".danger-box").inner_text()  # its route
    shot(page, "backend-remove-confirm")
    page.click("button.danger")
    page.wait_for_selector("text=Backend spare: removed")
    assert "spare" not in gw.cli("backends", "list").stdout
    assert "qwen2.5:7b" not in page.locator("main").inner_text().split("Routes")[1]
    page.context.close()


@pytest.mark.parametrize("size", ["1280", "390"])
def test_the_overview_shows_health_and_traffic_with_links(
    browser, ui_gateway, world, size
):
    page = new_page(browser, ui_gateway, world, size)
    page.goto(ui_gateway.url + "/admin/")
    assert page.url.endswith("/admin/overview")
    backends = page.locator("#stat-backends").inner_text()
    assert "offline-box" in backends  # named as down
    today = int(page.locator("#stat-today strong").inner_text().replace(",", ""))
    assert today >= 2
    assert "llama3.2" in page.locator("#top-models").inner_text()
    shot(page, f"overview-{size}")
    page.locator("#top-users a", has_text=world["user"]).first.click()
    page.wait_for_url("**/admin/users/*")
    assert page.locator("h1").inner_text() == world["user"]
    page.goto(ui_gateway.url + "/admin/overview")
    page.click("#stat-backends")
    page.wait_for_url("**/admin/backends")
    page.context.close()


def test_history_hides_housekeeping_calls_by_default(browser, ui_gateway, world):
    gw, tag = ui_gateway, uuid.uuid4().hex[:6]
    user = f"llm-cli-{tag}"
    headers = {"Authorization": f"Bearer {gw.key(user)}"}
    requests.get(gw.url + "/api/tags", headers=headers, timeout=10)
    requests.post(
        gw.url + "/api/show", json={"model": "llama3.2"}, headers=headers, timeout=10
    )
    body = {"model": "llama3.2", "prompt": "a real question", "stream": False}
    requests.post(gw.url + "/api/generate", json=body, headers=headers, timeout=30)
    assert len(wait_for_records(gw, user, 3)) == 3
    page = new_page(browser, gw, world, "1280")
    page.goto(f"{gw.url}/history/?user={user}")
    rows = page.locator("table.history-list tbody tr")
    assert rows.count() == 1 and "/api/generate" in rows.inner_text()
    assert "2 model-list or status calls" in page.locator("#housekeeping").inner_text()
    shot(page, "history-housekeeping-hidden")
    page.click("#housekeeping >> text=Show them")
    assert rows.count() == 3
    page.goto(f"{gw.url}/history/?user={user}&endpoint=/api/tags")  # asked for
    assert rows.count() == 1 and "/api/tags" in rows.inner_text()
    page.context.close()


def test_history_rows_are_one_line_on_a_laptop(browser, ui_gateway, world):
    page = new_page(browser, ui_gateway, world, "1280")
    page.goto(f"{ui_gateway.url}/history/?housekeeping=show")
    heights = page.evaluate(
        """() => [...document.querySelectorAll('table.history-list tbody tr')]
             .map(r => r.getBoundingClientRect().height)"""
    )
    line = page.evaluate(
        "parseFloat(getComputedStyle(document.querySelector('main')).lineHeight) || 24"
    )
    assert len(heights) >= 2
    assert max(heights) < 2 * line + 20, heights  # one line and the padding
    words = [world["user"], "llama3.2", "/api/generate"]
    assert page.evaluate(BROKEN_JS, ["table.history-list", words]) == []
    assert page.evaluate(OVERFLOW_JS) == []
    shot(page, "history-one-line-1280")
    page.context.close()


def test_form_fields_line_up_whatever_their_hints(browser, ui_gateway, world):
    page = new_page(browser, ui_gateway, world, "1280")
    page.goto(ui_gateway.url + "/admin/backends")
    tops = page.evaluate(
        """() => {
          const form = document.querySelector('form[action$="/admin/backends"]');
          const top = el => Math.round(el.getBoundingClientRect().top);
          return {
            labels: [...form.querySelectorAll('.field label')].map(top),
            inputs: [...form.querySelectorAll('.field input')].map(top),
          };
        }"""
    )
    assert len(tops["inputs"]) == 6  # name, URL, weight, parallel, max loaded, token
    # two lines of fields at most: each line's labels and boxes on one level
    assert len(set(tops["labels"])) <= 2 and len(set(tops["inputs"])) <= 2, tops
    page.context.close()


@pytest.mark.parametrize("size", ["1280", "390"])
def test_dashboard_text_is_readable_and_key_labels_keep_their_start(
    browser, ui_gateway, world, size
):
    page = new_page(browser, ui_gateway, world, size)
    page.goto(ui_gateway.url + "/history/dashboard")
    shot(page, f"dashboard-charts-{size}")
    small = page.evaluate(
        """() => [...document.querySelectorAll('svg.chart text, .hbars li')]
             .filter(t => t.getClientRects().length)
             .map(t => [t.textContent.trim(), t.getBoundingClientRect().height])
             .filter(([text, h]) => text && h < 11)"""
    )
    assert small == []  # no chart text smaller than about 12 px
    # a phone reads the phone drawing, whole, in its card: nothing scrolls sideways
    drawn = "svg.chart.phone" if size == "390" else "svg.chart.desk"
    assert page.locator(drawn).first.is_visible()
    boxes = page.evaluate(
        """() => [...document.querySelectorAll('figure.chart-box')]
             .map(f => f.scrollWidth - f.clientWidth)"""
    )
    assert boxes and max(boxes) <= 0, boxes
    names = page.locator(".hbar-name").all_inner_texts()
    keys = [n for n in names if world["plain"][:11] in n]
    assert keys and all(n.startswith("og_") for n in keys), names
    assert not any("(none)" in n for n in names)
    assert page.evaluate(OVERFLOW_JS) == []
    page.context.close()
