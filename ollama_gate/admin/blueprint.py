"""The admin blueprint (``/admin``), on its own so the page modules import it without
importing the package that imports them."""

from __future__ import annotations

from flask import Blueprint

from ..web import add_security_headers
from .security import refuse_nul_characters

bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.before_request(refuse_nul_characters)
bp.after_request(add_security_headers)
