"""A key holder's own history through the API, authenticated with their key.

A key reads its own calls; with the ``manage`` scope (the key that may already change
what every other key of the server uses) it may ask for all its user's keys
(``keys=all``). Another user's calls are never shown.

The paths live under ``/gate/api/`` rather than ``/api/``: everything under
``/api/`` and ``/v1/`` belongs to Ollama (unknown paths there are forwarded
upstream), so a gateway route in that space could shadow a future Ollama
endpoint. ``/gate/`` is the gateway's own.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import select

from ..call import Call
from ..errors import ApiError
from ..extensions import db
from ..keys import AuthError, Identity, authenticate
from ..limits.access import MANAGE
from .budget import within_budget
from .models import Request, valid_id
from .query import Filters

bp = Blueprint("history_api", __name__, url_prefix="/gate/api/history")

DEFAULT_LIMIT, MAX_LIMIT = 50, 200
PREVIEW = 200  # characters of prompt and answer in the list
LIST_FIELDS = (
    "id",
    "started_at",
    "key_prefix",
    "method",
    "endpoint",
    "model",
    "status",
    "streamed",
    "completed",
    "disconnected",
    "error",
    "done_reason",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "ttfb_ms",
    "total_ms",
    "mode",
)


def _identity() -> Identity:
    """The caller's identity from their API key (401/403 as JSON otherwise), counted
    against the key's rate limit like any API call (429 past it)."""
    try:
        identity = authenticate(
            request.headers, current_app.extensions["ollama_gate"].key_cache
        )
    except AuthError as exc:
        raise ApiError(exc.status, exc.message) from None
    path = request.path
    call = Call(identity, request.method, path, path, "/gate/api/history")
    current_app.extensions["ollama_gate_limits"].rates(call)
    return identity


@bp.get("")
def own_list():
    """The key's own calls (``keys=all``: the user's), newest first; ``limit``,
    ``before`` (an id), filters."""
    identity = _identity()
    try:
        filters = Filters.from_args(
            {
                k: request.args.get(k)
                for k in ("model", "endpoint", "status", "since", "until", "q")
            }
        )
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    raw_limit = request.args.get("limit", str(DEFAULT_LIMIT))
    # ASCII only: str.isdigit() also accepts "²", which int() refuses (a 500)
    if not (raw_limit.isascii() and raw_limit.isdigit()) or not (
        1 <= int(raw_limit) <= MAX_LIMIT
    ):
        raise ApiError(400, f"limit must be a number from 1 to {MAX_LIMIT}")
    limit = int(raw_limit)
    query = filters.apply(select(Request).where(*_readable(identity)))
    before = request.args.get("before")
    if before:
        if not valid_id(before):
            raise ApiError(400, "before must be a record id")
        query = query.where(Request.id < before)
    # ids are ULIDs made from the start time: id order is time order, a stable cursor
    query = query.order_by(Request.id.desc()).limit(limit + 1)
    data = within_budget(current_app._get_current_object(), lambda: listed(query))
    more = len(data) > limit
    data = data[:limit]
    return jsonify({"data": data, "next": data[-1]["id"] if more else None})


def _readable(identity: Identity) -> tuple:
    """The records the caller may list: its key's own, or with ``keys=all`` (which
    needs the ``manage`` scope) those of all the user's keys."""
    keys = request.args.get("keys", "own")
    if keys not in ("own", "all"):
        raise ApiError(400, "keys must be 'own' or 'all'")
    if keys == "own":
        return (Request.user_id == identity.user_id, Request.key_id == identity.key_id)
    if MANAGE not in identity.scopes:
        raise ApiError(
            403, f"this API key lacks the '{MANAGE}' scope needed for keys=all"
        )
    return (Request.user_id == identity.user_id,)


def may_read(identity: Identity, row: Request) -> bool:
    """True if the caller may read ``row``: its own key's, or any of the user's keys'
    with the ``manage`` scope (the key a user's other keys answer to)."""
    if row.user_id != identity.user_id:
        return False
    return row.key_id == identity.key_id or MANAGE in identity.scopes


def listed(query) -> list[dict]:
    """The rows of ``query`` as the list shows them (built where the query runs)."""
    data = []
    for row in db.session.execute(query).scalars():
        item = {name: getattr(row, name) for name in LIST_FIELDS}
        item["started_at"] = row.started_at.isoformat()
        item["prompt"] = row.prompt_text[:PREVIEW]
        item["answer"] = row.answer_text[:PREVIEW]
        data.append(item)
    return data


@bp.get("/<string:record_id>")
def own_detail(record_id: str):
    """One call the caller may read in full; 404 for any other (even if it exists)."""
    identity = _identity()
    row = db.session.get(Request, record_id) if valid_id(record_id) else None
    if row is None or not may_read(identity, row):
        raise ApiError(404, "no such history record")
    data = row.to_dict()
    data.pop("user_id", None)
    data.pop("key_id", None)
    return jsonify(data)
