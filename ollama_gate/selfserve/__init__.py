"""Key holders help themselves: their own usage by API and on a page of their own.

``views.api_bp`` (``/gate/api/usage``) answers with the key; ``views.page_bp``
(``/gate/usage``) takes a pasted key. Neither needs an admin login.
"""

from __future__ import annotations

from flask import Flask

from ..extensions import csrf
from .views import api_bp, page_bp


def init_app(app: Flask) -> None:
    """Register the usage API (key-authenticated: no CSRF) and the page."""
    app.register_blueprint(api_bp)
    csrf.exempt(api_bp)
    app.register_blueprint(page_bp)
