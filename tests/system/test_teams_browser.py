"""Teams in a real headless Chromium: an admin creates a team, adds a member, sets a
quota; the member's calls then show the team on the dashboard and as a history
filter. Every teams page at 1280 and 390 px, light and dark, without anything
reaching past the screen. Screenshots go to /tmp/teamsui-shots/."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import requests

from tests.admin.test_ui_browser import OVERFLOW_JS, PASSWORD, SIZES
from tests.helpers.live import gateway_fixture
from tests.helpers.services import CHROMIUM, CHROMIUM_ARGS
from tests.history.test_live import wait_for_records

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/teamsui-shots")
teams_gateway = gateway_fixture("teams_gateway")


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


@pytest.fixture(scope="module")
def world(teams_gateway):
    """An admin and a user with a key, in no team yet."""
    gw, tag = teams_gateway, uuid.uuid4().hex[:6]
    admin, user = f"teams-{tag}", f"member-{tag}"
    gw.cli("admins", "create", admin, "--password", PASSWORD)
    plain = gw.key(user, name="laptop")
    return {"admin": admin, "user": user, "plain": plain, "team": f"research {tag}"}


def new_page(browser, gw, world, size: str = "1280", scheme: str = "light"):
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


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_a_team_from_creation_to_the_dashboard(browser, teams_gateway, world):
    gw, team, user = teams_gateway, world["team"], world["user"]
    page = new_page(browser, gw, world)
    page.click("nav >> text=Teams")
    assert page.url.endswith("/admin/teams")
    page.fill("#name", team)
    page.click("text=Create team")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == team
    # add the member
    page.select_option("#add-member select[name=user]", label=user)
    page.click("#add-member >> text=Add to team")
    page.wait_for_load_state()
    assert f"{user} is now in team {team}" in page.inner_text(".flash")
    assert user in page.inner_text("#members")
    assert "laptop" in page.inner_text("#team-keys")
    # a quota on the team: one pool for its members
    page.fill("#team-settings input[name=calls_per_day]", "3")
    page.click("#team-settings >> text=Save team settings")
    page.wait_for_load_state()
    assert "Team settings saved" in page.inner_text(".flash")
    assert page.input_value("#team-settings input[name=calls_per_day]") == "3"
    # the member's calls: two fit, the fourth is refused by the team's quota
    headers = {"Authorization": f"Bearer {world['plain']}"}
    codes = []
    for prompt in ("one", "two", "three", "four"):
        body = {"model": "llama3.2", "prompt": prompt, "stream": False}
        resp = requests.post(
            gw.url + "/api/generate", json=body, headers=headers, timeout=30
        )
        codes.append(resp.status_code)
    assert codes == [200, 200, 200, 429]
    assert "team" in resp.text  # the refusal names the level
    assert len(wait_for_records(gw, user, 4)) == 4
    page.reload()
    usage = page.inner_text("#team-usage")
    assert "3 of 3" in usage and "used up" in usage
    shot(page, "team-1280-light")
    # the dashboard: calls per team
    page.goto(gw.url + "/history/dashboard")
    charts = page.inner_text(".charts")
    assert "Calls per team" in charts and team in charts
    shot(page, "dashboard-1280-light")
    # history: the team as a filter
    page.goto(gw.url + "/history/")
    page.select_option("select[name=team]", label=team)
    page.click(".history-filters >> text=Filter")
    page.wait_for_load_state()
    assert "team=" in page.url
    assert page.locator("table.history-list tbody tr").count() == 4
    assert f"team {team}" in page.inner_text("table.history-list")
    shot(page, "history-team-1280-light")
    page.goto(gw.url + "/admin/teams")
    row = page.inner_text("#teams")
    assert team in row and "3 calls of 3" in row and "27 tokens" in row
    page.goto(gw.url + "/admin/overview")
    assert team in page.inner_text("#top-teams")
    page.context.close()


@pytest.mark.parametrize("size", ["1280", "390"])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_teams_pages_fit_the_screen(browser, teams_gateway, world, size, scheme):
    gw = teams_gateway
    page = new_page(browser, gw, world, size, scheme)
    page.goto(gw.url + "/admin/teams")
    links = page.locator("#teams tbody a").all()
    if not links:  # run alone: make the team the first test makes
        page.fill("#name", world["team"])
        page.click("text=Create team")
        page.goto(gw.url + "/admin/teams")
    team_url = page.locator("#teams tbody a").first.get_attribute("href")
    page.goto(gw.url + "/admin/users?q=" + world["user"])
    user_url = page.locator("tbody a").first.get_attribute("href")
    for name, path in (
        ("teams", "/admin/teams"),
        ("team", team_url),
        ("team-delete", team_url + "/delete"),
        ("user", user_url),
        ("users", "/admin/users"),
    ):
        page.goto(gw.url + path)
        assert page.evaluate(OVERFLOW_JS) == [], (name, size, scheme)
        shot(page, f"{name}-{size}-{scheme}")
    page.context.close()
