"""The history pages' blueprint (``/history``), on its own so the page modules import
it without importing the package that imports them."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("history", __name__, url_prefix="/history")
