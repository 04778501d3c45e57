"""Long records read in pages: the call's page shows each text up to ``PAGE_CHARS``,
and the rest is read as plain text, a page at a time.

A record of a 100 MB body once made a 140 MB history page. Records are bounded now
(``content.py``), but a few megabytes of prompt still make a page no browser wants:
the call's page stays small, and nothing of a record is out of reach.
"""

from __future__ import annotations

import json
import math

from flask import Response, abort, request
from flask_login import login_required

from ..accounts.roles import for_staff
from ..accounts.scope import may_read_call
from ..extensions import db
from .blueprint import bp
from .models import Request, valid_id

PAGE_CHARS = 100_000  # characters of one text shown on the call's page, or per part
PARTS = ("request", "answer", "prompt")


def cut(text: str | None) -> tuple[str, int]:
    """``text`` up to one page, and its whole length (0 for none)."""
    text = text or ""
    return text[:PAGE_CHARS], len(text)


def part_text(row: Request, part: str) -> str:
    """The whole text of one part of a record."""
    if part == "request":
        if row.request is None:
            return ""
        return json.dumps(row.request, indent=2, ensure_ascii=False)
    return row.answer_text if part == "answer" else row.prompt_text


def pages(length: int) -> int:
    """How many parts a text of ``length`` characters is read in."""
    return max(1, math.ceil(length / PAGE_CHARS))


@bp.get("/<string:record_id>/<any(request, answer, prompt):part>.txt")
@login_required
@for_staff
def record_part(record_id: str, part: str):
    """One page of a record's request, answer or prompt, as plain text (never HTML)."""
    row = db.session.get(Request, record_id) if valid_id(record_id) else None
    if row is None or not may_read_call(row):  # another team's call: not there
        abort(404)
    text = part_text(row, part)
    raw = request.args.get("page", "1")
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= pages(len(text)):
        abort(404)
    page = int(raw)
    body = text[(page - 1) * PAGE_CHARS : page * PAGE_CHARS]
    headers = {"X-Page": f"{page} of {pages(len(text))}"}
    return Response(body, mimetype="text/plain", headers=headers)
