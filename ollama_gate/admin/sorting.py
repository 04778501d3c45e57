"""Sorting of the admin tables: ``?sort=name`` (ascending) or ``?sort=-name``, and the
column heads whose links switch it."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Flask, request
from markupsafe import Markup, escape
from sqlalchemy import case


def sort_arg(columns: dict[str, Any], default: str) -> tuple[str, list]:
    """(the sort in effect, its ORDER BY clauses) from ``?sort``; odd: the default."""
    wanted = request.args.get("sort", default)
    name = wanted.removeprefix("-")
    if name not in columns:
        wanted, name = default, default.removeprefix("-")
    column = columns[name]
    descending = wanted.startswith("-")
    # empty values (never used, never expires) last either way, on every database
    nulls_last = case((column.is_(None), 1), else_=0)
    return wanted, [nulls_last, column.desc() if descending else column.asc()]


def sort_th(label: str, name: str, current: str, first: str = "") -> Markup:
    """A column head whose link sorts by ``name`` (``first``: "-" starts descending)."""
    args = request.args.to_dict()
    args.pop("page", None)
    if current.removeprefix("-") == name:
        descending = current.startswith("-")
        args["sort"] = name if descending else f"-{name}"
        arrow = " ↓" if descending else " ↑"
        sort = "descending" if descending else "ascending"
    else:
        args["sort"] = first + name
        arrow, sort = "", "none"
    query = urlencode(args)
    return Markup(
        f'<th aria-sort="{sort}"><a class="sort" href="{escape(request.path)}?'
        f'{escape(query)}">{escape(label)}{arrow}</a></th>'
    )


def init_app(app: Flask) -> None:
    """Make ``sort_th`` available to every template."""
    app.add_template_global(sort_th, "sort_th")
