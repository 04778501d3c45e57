"""Key holders help themselves: ``GET /gate/api/usage`` (with the key) and the page
``/gate/usage`` where one pastes a key to see its limits, use and recent calls.

The key travels in a header or a POST body, never in a URL (URLs end up in logs and
browser history). The page needs no admin login; it is rate-limited per client
address, the API counts each look-up per address before the key is checked (and gives
a good key's back), and every failed key attempt counts on the dashboard like any
other. Unknown, disabled, revoked and expired keys get one answer: a guesser learns
nothing about which keys exist.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template, request
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import PasswordField, SubmitField
from wtforms.validators import DataRequired, Length

from ..attempts import Attempt, TooManyAttempts, count_attempt, give_back
from ..authheaders import key_from_headers
from ..call import Call
from ..errors import ApiError
from ..extensions import db, limiter
from ..history.models import Request
from ..keys import AuthError, Identity, authenticate
from ..models import ApiKey
from ..web import add_security_headers
from .report import usage_report

api_bp = Blueprint("usage_api", __name__, url_prefix="/gate/api")
page_bp = Blueprint("selfserve", __name__, url_prefix="/gate")
RECENT = 20  # calls shown on the page


REFUSED = "invalid API key"  # unknown, disabled, revoked or expired: one answer


def identify(headers, attempt: Attempt | None = None) -> Identity:
    """The caller's identity from a key in ``headers``, charged to its rate limit;
    a good key gives its counted ``attempt`` back."""
    try:
        identity = authenticate(
            headers, current_app.extensions["ollama_gate"].key_cache
        )
    except AuthError as exc:
        if exc.status in (401, 403) and key_from_headers(headers)[0]:
            raise ApiError(401, REFUSED) from None  # never which of them
        raise ApiError(exc.status, exc.message) from None
    if attempt is not None:  # a good key's look-ups count against its own rate limit
        give_back(attempt)
    path = request.path
    call = Call(identity, request.method, path, path, path)
    current_app.extensions["ollama_gate_limits"].rates(call)  # 429 past it
    return identity


@api_bp.get("/usage")
def usage():
    """The calling key's limits, its use today and this month, and the resets."""
    try:  # counted before the key is checked: parallel guesses too
        attempt = count_attempt("usage-api", page_limit())
    except TooManyAttempts as exc:
        message = (
            f"too many key look-ups from this address; retry in {exc.retry_after} s"
        )
        raise ApiError(429, message, {"Retry-After": str(exc.retry_after)}) from None
    identity = identify(request.headers, attempt)
    return jsonify(usage_report(db.session.get(ApiKey, identity.key_id)))


class KeyForm(FlaskForm):
    """Paste a key (a password field: it is not echoed or kept by the browser)."""

    key = PasswordField(
        "Your API key",
        validators=[DataRequired(), Length(max=400)],
        render_kw={"autocomplete": "off", "placeholder": "og_…", "autofocus": True},
    )
    submit = SubmitField("Show my usage")


def page_limit() -> str:
    """Look-ups per client address (a setting)."""
    return current_app.config["GATE"]["SELF_SERVICE_RATE_LIMIT"]


@page_bp.route("/usage", methods=["GET", "POST"])
@limiter.limit(page_limit, methods=["POST"])
def usage_page():
    """The key holder's page: paste a key, see its limits, use and recent calls."""
    form = KeyForm()
    report = recent = error = None
    status = 200
    if form.validate_on_submit():
        try:
            identity = identify({"Authorization": f"Bearer {form.key.data.strip()}"})
        except ApiError as exc:
            error, status = exc.message, exc.status
        else:
            report = usage_report(db.session.get(ApiKey, identity.key_id))
            recent = own_calls(identity)
        form.key.data = ""  # never sent back to the browser
    return render_template(
        "selfserve/usage.html", form=form, report=report, recent=recent, error=error
    ), status


def own_calls(identity: Identity) -> list[Request]:
    """The key's own most recent calls."""
    return list(
        db.session.execute(
            select(Request)
            .where(Request.user_id == identity.user_id)
            .where(Request.key_id == identity.key_id)
            .order_by(Request.id.desc())
            .limit(RECENT)
        ).scalars()
    )


page_bp.after_request(add_security_headers)
