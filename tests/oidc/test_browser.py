"""Sign-in with the provider in a real headless Chromium, at 1280 and 390 px, light
and dark: the login page's button (a link), the provider's login form and consent,
back to the gateway through the cross-site callback (the SameSite=Lax session cookie
must come along), then sign-out through the provider's end-session and back.
Screenshots go to the test's tmp folder."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.admin.test_ui_browser import OVERFLOW_JS, SIZES
from tests.helpers.oidc import password_of

pytestmark = [pytest.mark.browser, pytest.mark.needs_oidc_provider]


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", ["1280", "390"])
def test_sign_in_and_out_through_the_provider(
    chromium, sso_gateway, provider, tmp_path, size, scheme
):
    gw = sso_gateway
    context = chromium.new_context(
        viewport=SIZES[size], is_mobile=size == "390", color_scheme=scheme
    )
    page = context.new_page()
    problems: list[str] = []
    # what the page policy blocks, and script errors (not 4xx pages: the provider
    # has no favicon)
    page.on(
        "console",
        lambda m: "Content Security Policy" in m.text and problems.append(m.text),
    )
    page.on("pageerror", lambda exc: problems.append(str(exc)))

    def shot(name: str) -> None:
        page.screenshot(
            path=str(tmp_path / f"{name}-{size}-{scheme}.png"), full_page=True
        )

    page.goto(gw.url + "/admin/login")
    button = page.locator("#sso")
    assert button.inner_text() == "Sign in with Test IdP"
    assert page.evaluate(OVERFLOW_JS) == []
    shot("login")
    button.click()
    page.wait_for_url(provider.url + "/accounts/login/**")
    page.fill("#id_username", "bob")
    page.fill("#id_password", password_of("bob"))
    page.click("#sign-in")
    page.wait_for_url(provider.url + "/openid/authorize**")
    page.click("input[name=allow]")  # the consent page
    page.wait_for_url(gw.url + "/admin/**")
    # a team admin lands on their team's page (accounts.scope)
    assert urlsplit(page.url).path.startswith("/admin/teams/")
    assert "bob" in page.text_content("header")
    assert "Team Operations" in page.text_content("header")
    assert page.evaluate(OVERFLOW_JS) == []
    shot("signed-in")

    if size == "390":
        page.click("label.menu-button")  # the phone menu holds Log out
    page.click("text=Log out")
    page.wait_for_url(gw.url + "/admin/login**")
    assert "Log in" in page.inner_text("h1")
    shot("signed-out")
    page.goto(gw.url + "/admin/")  # the session is over
    assert urlsplit(page.url).path == "/admin/login"
    assert problems == []
    context.close()
