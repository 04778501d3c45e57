"""The portal (blueprint ``portal``, ``/portal``): people sign in and make their own
keys within their team's policy, see their usage, history and models.

Sessions here are the admin pages' (one login for everyone); API keys never open
these pages.
"""

from __future__ import annotations

from flask import Flask

from . import keys, pages  # noqa: F401  (pages on bp)
from .blueprint import bp
from .pages import nav_links


def init_app(app: Flask) -> None:
    """Register the pages and the navigation's links."""
    app.register_blueprint(bp)
    app.add_template_global(nav_links, "portal_links")
