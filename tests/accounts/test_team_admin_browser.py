"""A team admin in a real headless Chromium against a live gateway, at 1280 and 390 px
in light and dark: their menu names their team and holds only the pages open to them,
the users page lists their team only, and nothing scrolls sideways on a phone.
Screenshots go to tests/artifacts/teamadmin/."""

from __future__ import annotations

import uuid

import pytest

from tests.admin import test_ui_browser as ui
from tests.admin.test_ui_browser import OVERFLOW_JS, SIZES
from tests.helpers.admin import PASSWORD, make_person
from tests.helpers.live import gateway_fixture
from tests.helpers.paths import ARTIFACTS

pytestmark = pytest.mark.browser
browser = ui.browser  # one Chromium for the module (the launch helper of the UI tests)
ui_gateway = gateway_fixture("ui_gateway")

SHOTS = ARTIFACTS / "teamadmin"
TEAM_PAGES = ("Users", "Keys", "History", "Usage")


@pytest.fixture(scope="module")
def people(ui_gateway):
    """A team admin and a member of one team, and a member of another team."""
    tag = uuid.uuid4().hex[:6]
    names = {
        "team": f"ml-{tag}",
        "admin": f"tess-{tag}",
        "member": f"mia-{tag}",
        "other": f"otto-{tag}",
    }
    app = ui_gateway.app
    make_person(app, names["admin"], role="team_admin", team=names["team"])
    make_person(app, names["member"], None, team=names["team"])
    make_person(app, names["other"], None, team=f"ops-{tag}")
    ui_gateway.key(names["member"], name="laptop")
    return names


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", ["1280", "390"])
def test_a_team_admins_menu_and_users_page_fit(
    browser, ui_gateway, people, size, scheme
):
    context = browser.new_context(
        viewport=SIZES[size], is_mobile=size == "390", color_scheme=scheme
    )
    page = context.new_page()
    page.goto(ui_gateway.url + "/admin/login")
    page.fill("#name", people["admin"])
    page.fill("#password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_load_state()
    assert "/admin/teams/" in page.url  # they land on their team's page
    assert people["member"] in page.content()

    page.goto(ui_gateway.url + "/admin/users")
    body = page.locator("main").inner_text()
    assert people["member"] in body and people["other"] not in body
    if size == "390":
        assert not page.locator("nav.nav").is_visible()
        page.click("text=Menu")
    nav = page.locator("nav.nav")
    assert nav.is_visible()
    team = nav.locator("#nav-team")
    assert team.inner_text() == f"Team {people['team']}"
    labels = [t.strip() for t in nav.locator("a").all_inner_texts()]
    assert labels == [f"Team {people['team']}", *TEAM_PAGES]
    assert page.evaluate(OVERFLOW_JS) == [], "something reaches past the right edge"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= SIZES[size]["width"]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"users-{size}-{scheme}.png"), full_page=True)

    # the menu's team link opens their team's page; another team's user is not there
    team.click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == people["team"]
    assert page.evaluate(OVERFLOW_JS) == []
    page.screenshot(path=str(SHOTS / f"team-{size}-{scheme}.png"), full_page=True)
    context.close()
