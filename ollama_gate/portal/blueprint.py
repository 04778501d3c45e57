"""The portal blueprint (``/portal``), on its own so the page modules import it
without importing the package that imports them."""

from __future__ import annotations

from flask import Blueprint, abort
from flask_login import current_user

from ..admin.security import refuse_nul_characters
from ..extensions import db
from ..models import ApiKey, User
from ..web import add_security_headers

bp = Blueprint("portal", __name__, url_prefix="/portal")
bp.before_request(refuse_nul_characters)
bp.after_request(add_security_headers)

MAX_ID = 2**63 - 1  # larger ids in a URL overflow the database driver: 404, not 500


def me() -> User:
    """The signed-in person (every portal page is ``login_required``)."""
    person = current_user._get_current_object()
    if not isinstance(person, User):  # an account that owns no keys
        abort(403)
    return person


def my_key_or_404(key_id: int) -> ApiKey:
    """One of the signed-in person's own keys; another's is a 404 as a missing one
    is, so ids tell nothing about whose keys exist."""
    key = db.session.get(ApiKey, key_id) if key_id <= MAX_ID else None
    if key is None or key.user_id != me().id:
        abort(404)
    return key
