"""History pages: the filtered list with search, one call as a conversation, export."""

from __future__ import annotations

import json
from datetime import datetime

from flask import Response, abort, render_template, request, stream_with_context
from flask_login import login_required
from sqlalchemy import and_, func, or_, select
from werkzeug.exceptions import BadRequest

from ..accounts.roles import for_staff
from ..accounts.scope import call_conditions, may_read_call
from ..admin.sorting import sort_arg
from ..extensions import db
from ..models import utcnow
from ..web import add_security_headers
from .blueprint import bp
from .conversation import conversation
from .models import Request, valid_id
from .paging import PAGE_CHARS, cut, part_text
from .query import Filters, housekeeping_condition, newest_first
from .transfer import csv_lines, jsonl_lines
from .units import stats_facts

PER_PAGE = 50
SORTS = {  # the list's sortable columns
    "time": Request.started_at,
    "tokens": Request.total_tokens,
    "ttfb": Request.ttfb_ms,
    "total": Request.total_ms,
    "status": Request.status,
}
EXPORT_BATCH = 500


@bp.after_request
def _security_headers(response: Response) -> Response:
    """The admin pages' headers (CSP, no framing, no caching) on every history page."""
    return add_security_headers(response)


@bp.errorhandler(BadRequest)
def _bad_request(exc: BadRequest):
    """A bad filter or range: the styled page, saying which value to fix."""
    return render_template(
        "admin/error.html", title="That filter cannot be used", message=exc.description
    ), 400


def _filters() -> Filters:
    try:
        return Filters.from_args(request.args)
    except ValueError as exc:
        abort(400, description=str(exc))


@bp.get("/")
@login_required
@for_staff
def index():
    """The list of calls, newest first, with filters, search and pages."""
    try:
        filters = Filters.from_args(request.args)
    except ValueError as exc:  # the form again, with the value to fix
        given = {k: v.replace("\x00", "") for k, v in request.args.items()}
        unchecked = Filters.unchecked(given)
        return _list_page([], unchecked, 1, 1, 0, "-time", error=str(exc)), 400
    query = filters.apply(select(Request)).where(*call_conditions(Request))
    count = filters.apply(select(func.count()).select_from(Request)).where(
        *call_conditions(Request)
    )
    show = request.args.get("housekeeping") == "show"
    hidden = 0
    if not show and not filters.endpoint:  # an endpoint asked for is shown
        hidden = db.session.execute(count.where(housekeeping_condition())).scalar_one()
        query = query.where(~housekeeping_condition())
        count = count.where(~housekeeping_condition())
    total = db.session.execute(count).scalar_one()
    pages = max(1, -(-total // PER_PAGE))
    page = request.args.get("page", "1")
    ok = page.isascii() and page.isdigit() and 0 < len(page) < 10  # not "²"
    page = min(int(page), pages) if ok else 1
    page = max(page, 1)
    sort, order = sort_arg(SORTS, "-time")
    rows = (
        db.session.execute(
            query.order_by(*order, Request.id.desc())
            .limit(PER_PAGE)
            .offset((page - 1) * PER_PAGE)
        )
        .scalars()
        .all()
    )
    return _list_page(rows, filters, page, pages, total, sort, hidden=hidden, show=show)


def _list_page(rows, filters, page, pages, total, sort, error=None, **shown) -> str:
    return render_template(
        "history/list.html",
        rows=rows,
        filters=filters,
        page=page,
        pages=pages,
        total=total,
        sort=sort,
        choices=_choices(),
        error=error,
        hidden=shown.get("hidden", 0),
        today=utcnow().date(),  # today's calls show their time only
        housekeeping="show" if shown.get("show") else None,
    )


def _choices() -> dict[str, list[str]]:
    """Known values for the filter drop-downs (users, teams, models, endpoints)."""
    out = {}
    for name, col in (
        ("user", Request.user_name),
        ("team", Request.team_name),
        ("model", Request.model),
        ("endpoint", Request.endpoint),
    ):
        out[name] = [
            v
            for v in db.session.execute(
                select(col)
                .where(col.is_not(None), *call_conditions(Request))
                .distinct()
                .order_by(col)
                .limit(200)
            ).scalars()
            if v
        ]
    return out


@bp.get("/<string:record_id>")
@login_required
@for_staff
def detail(record_id: str):
    """One call: who and when, the conversation, the raw request and statistics."""
    row = db.session.get(Request, record_id) if valid_id(record_id) else None
    if row is None or not may_read_call(row):  # another team's call: not there
        abort(404)
    turns = conversation(row)
    for turn in turns:  # a page shows each text up to PAGE_CHARS; parts hold the rest
        turn["text"], turn["length"] = cut(turn["text"])
    request_json, request_length = cut(part_text(row, "request"))
    filters = _filters()
    return render_template(
        "history/detail.html",
        row=row,
        filters=filters,
        newer=neighbour(row, filters, newer=True),
        older=neighbour(row, filters, newer=False),
        facts=stats_facts(row.stats),
        turns=turns,
        page_chars=PAGE_CHARS,
        request_json=request_json,
        request_length=request_length,
        stats_json=json.dumps(row.stats, indent=2, ensure_ascii=False)
        if row.stats is not None
        else "",
    )


def neighbour(row: Request, filters: Filters, newer: bool) -> str | None:
    """The id of the next newer (or older) call in the filtered list, or None."""
    at, rid = Request.started_at, Request.id
    if newer:
        after = or_(at > row.started_at, and_(at == row.started_at, rid > row.id))
        order = (at.asc(), rid.asc())
    else:
        after = or_(at < row.started_at, and_(at == row.started_at, rid < row.id))
        order = (at.desc(), rid.desc())
    query = (
        filters.apply(select(Request.id))
        .where(after, *call_conditions(Request))
        .order_by(*order)
        .limit(1)
    )
    return db.session.execute(query).scalar()


@bp.get("/export.<any(jsonl, csv):fmt>")
@login_required
@for_staff
def export(fmt: str):
    """The filtered list as a JSON Lines or CSV download."""
    filters = _filters()
    scoped = filters.apply(select(Request)).where(*call_conditions(Request))
    query = newest_first(scoped).execution_options(yield_per=EXPORT_BATCH)

    def rows():
        yield from db.session.execute(query).scalars()

    lines = (jsonl_lines if fmt == "jsonl" else csv_lines)(rows())
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    mimetype = "application/x-ndjson" if fmt == "jsonl" else "text/csv"
    return Response(
        stream_with_context(lines),
        mimetype=mimetype,
        headers={
            "Content-Disposition": f'attachment; filename="history-{stamp}.{fmt}"'
        },
    )
