"""History and usage: every call recorded, searchable, exportable and charted.

``bp`` (``/history``) holds the admin pages; ``api.bp`` (``/gate/api/history``)
lets a key holder read their own calls with their key. ``stage`` writes the
records.
"""

from __future__ import annotations

from flask import Flask

from . import dashboard, highlight, overview, paging, views  # noqa: F401  (pages)
from .api import bp as api_bp
from .blueprint import bp
from .record import HistoryStage


def stage(app: Flask) -> HistoryStage:
    """History's stage for ``app``'s pipeline: every finished call recorded."""
    return HistoryStage()


def init_app(app: Flask) -> None:
    """Register the pages and the key holder's API on ``app``."""
    app.register_blueprint(bp)
    app.register_blueprint(api_bp)
    highlight.init_app(app)
