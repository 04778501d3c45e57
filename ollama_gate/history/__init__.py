"""History and usage: every call recorded, searchable, exportable and charted.

``bp`` (``/history``) holds the admin pages; ``api.bp`` (``/gate/api/history``)
lets a key holder read their own calls with their key. The recorder hook writes
the records.
"""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("history", __name__, url_prefix="/history")

from . import dashboard, views  # noqa: E402,F401  (routes register on ``bp``)


def init_app(app: Flask) -> None:
    """Register the pages, the key holder's API and the recorder hook on ``app``."""
    from .api import bp as api_bp
    from .record import HistoryHook

    app.register_blueprint(bp)
    app.register_blueprint(api_bp)
    app.extensions["ollama_gate"].recorder.add_hook(HistoryHook())
