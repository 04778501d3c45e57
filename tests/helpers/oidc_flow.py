"""Signing in through the test OpenID provider with ``requests``, as a browser
would: the gateway's sign-in link, the provider's login form and consent page, back
to the gateway's callback (which a test may change before following it)."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin

import requests


class Forms(HTMLParser):
    """Every form of a page: its action and its inputs (name -> value)."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag: str, attrs) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": values.get("action", ""), "inputs": {}})
        elif tag == "input" and self.forms and values.get("name"):
            self.forms[-1]["inputs"][values["name"]] = values.get("value", "")


def forms_of(html: str) -> list[dict]:
    """The forms of ``html``."""
    parser = Forms()
    parser.feed(html)
    return parser.forms


def to_callback(
    s: requests.Session, gateway: str, name: str, password: str, allow: bool = True
) -> str:
    """Start signing in at ``gateway`` and go through the provider as ``name``;
    the gateway callback URL the provider sends the browser to (not followed)."""
    r = s.get(gateway + "/auth/oidc/login", allow_redirects=False)
    assert r.status_code == 302, r.text[:500]
    for _ in range(10):
        location = r.headers.get("Location", "")
        if r.is_redirect and location.startswith(gateway):
            return location
        if r.is_redirect:
            r = s.get(urljoin(r.url, location), allow_redirects=False)
            continue
        assert r.status_code == 200, r.text[:500]
        form = forms_of(r.text)[0]
        data = dict(form["inputs"])
        if "password" in data:  # the provider's login form
            data.update(username=name, password=password)
        elif allow:  # the consent page: "Authorize"
            data["allow"] = "Authorize"
        else:
            data.pop("allow", None)
        r = s.post(urljoin(r.url, form["action"]), data=data, allow_redirects=False)
    raise AssertionError("the provider never sent the browser back")


def sign_in(
    s: requests.Session, gateway: str, name: str, password: str
) -> requests.Response:
    """The whole sign-in; the gateway's last answer (redirects followed)."""
    return s.get(to_callback(s, gateway, name, password))
