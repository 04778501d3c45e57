"""Search hits in the history list: a snippet around the first hit, every hit marked,
and everything else escaped (prompts are untrusted HTML)."""

from __future__ import annotations

import re

from flask import Flask
from markupsafe import Markup, escape

WIDTH = 140  # characters of a snippet


def snippet(text: str | None, query: str = "", width: int = WIDTH) -> Markup:
    """Up to ``width`` characters of ``text`` (around the first hit of ``query``),
    escaped, with each hit in ``<mark>``."""
    text = text or ""
    hits = re.compile(re.escape(query), re.IGNORECASE) if query else None
    first = hits.search(text) if hits else None
    start = 0
    if first and first.end() > width:  # show the hit with a little before it
        start = max(0, first.start() - width // 4)
    piece = text[start : start + width]
    lead = "…" if start else ""
    tail = "…" if start + width < len(text) else ""
    if not hits:
        return escape(lead + piece + tail)
    out, last = [escape(lead)], 0
    for match in hits.finditer(piece):
        out.append(escape(piece[last : match.start()]))
        out.append(Markup("<mark>{}</mark>").format(match.group(0)))
        last = match.end()
    out += [escape(piece[last:]), escape(tail)]
    return Markup("").join(out)


TURN = " ⏎ "  # where a prompt's turns (or lines) meet, in a one-line preview


def turns(text: str | None, query: str = "", width: int = WIDTH) -> Markup:
    """A prompt's preview: its turns apart (``⏎``), and without a search its latest
    part (what this call asked), not the system prompt every call of a chat repeats."""
    text = text or ""
    if not query and len(text) > width and "\n" in text:
        lines = text.split("\n")
        kept = [lines.pop()]  # the latest, whole turns that fit (at least one)
        while lines and len(lines[-1]) + sum(map(len, kept)) + len(kept) <= width:
            kept.insert(0, lines.pop())
        text = "…\n" + "\n".join(kept)
    return Markup(str(snippet(text, query, width)).replace("\n", TURN))


def init_app(app: Flask) -> None:
    """The ``snippet`` and ``turns`` filters for the history templates."""
    app.add_template_filter(snippet, "snippet")
    app.add_template_filter(turns, "turns")
