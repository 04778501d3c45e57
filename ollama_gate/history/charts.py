"""Server-drawn SVG charts: geometry here, drawn by ``history/_charts.html``.

No chart library and no CDN: a chart is a list of rectangles and labels, and every label
goes through Jinja's autoescaping like any other text on the page. A time chart is
drawn twice, for a laptop and for a phone (narrower, fewer and shorter time labels),
and the style sheet shows one: a phone then reads it at full size without scrolling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

WIDTH, HEIGHT = 960, 200  # time charts span the page
PHONE_WIDTH = 330  # about a 390 px phone's card: drawn text stays near 12 px
BAR_WIDTH = 480  # per-model/user/key charts sit two to a row
LEFT, BOTTOM, TOP = 56, 24, 8
RIGHT = 36  # room for the last time label
TICKS = {WIDTH: 8, PHONE_WIDTH: 4}  # time labels at most, per drawn width
MAX_BAR = 64  # one bar alone is a bar, not a block across the chart


@dataclass
class Chart:
    """A drawable chart: rectangles, axis ticks, x labels and a legend."""

    title: str
    width: int = WIDTH
    height: int = HEIGHT
    rects: list[dict] = field(default_factory=list)
    yticks: list[dict] = field(default_factory=list)
    xlabels: list[dict] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)
    lines: list[dict] = field(default_factory=list)  # polylines (``lines``)
    empty: bool = False
    empty_text: str = ""  # what an empty chart means, before the generic advice
    notes: list[str] = field(default_factory=list)  # a lone point or bar, said so
    wide: bool = False  # spans the whole row of the chart grid
    bars: bool = False  # horizontal bars: names and values as page text (``hbars``)
    phone: Chart | None = None  # the same time chart drawn for a phone


def nice_max(value: float) -> float:
    """A round axis maximum at or above ``value``."""
    if value <= 0:
        return 1
    step = 10 ** (len(str(int(value))) - 1)
    for mult in (1, 2, 2.5, 5, 10):
        if value <= mult * step:
            return mult * step
    return 10 * step


def time_labels(labels: list[str], width: int) -> list[dict]:
    """Which time labels a chart ``width`` wide shows, and their text: ``MM-DD`` or
    ``MM-DD HH:00`` on a laptop; on a phone ``HH:00``, or ``MM-DD`` where a day
    starts (or first), so no label is wider than five characters."""
    slot = (width - LEFT - RIGHT) / len(labels)
    every = max(1, math.ceil(len(labels) / TICKS[width]))
    out, day = [], None
    for i in range(0, len(labels), every):
        label = labels[i]
        text = label[5:]
        if width != WIDTH and len(label) > 10:
            text = label[5:10] if label[:10] != day else label[11:]
            day = label[:10]
        out.append({"x": round(LEFT + (i + 0.5) * slot, 2), "text": text})
    return out


def y_ticks(top: float) -> list[dict]:
    """Three dashed rules with their values: zero, half and the top."""
    plot_h = HEIGHT - BOTTOM - TOP
    return [
        {"y": round(TOP + plot_h * (1 - f), 2), "text": fmt(top * f)}
        for f in (0, 0.5, 1)
    ]


def stacked_bars(
    title: str,
    labels: list[str],
    series: list[tuple[str, str, list[float]]],
    href=None,
    width: int = WIDTH,
) -> Chart:
    """Stacked bars over time; ``series`` holds (name, css class, values per label);
    ``href(label, css class)``, if given, is where each bar leads."""
    chart = Chart(title, width=width, legend=[(n, c) for n, c, _ in series])
    totals = [sum(vals[i] for _, _, vals in series) for i in range(len(labels))]
    if not labels or not any(totals):
        chart.empty = True
        return chart
    if width == WIDTH:
        chart.phone = stacked_bars(title, labels, series, href, PHONE_WIDTH)
    top = nice_max(max(totals))
    chart.wide = True
    plot_w, plot_h = width - LEFT - RIGHT, HEIGHT - BOTTOM - TOP
    slot = plot_w / len(labels)
    bar = min(max(slot * 0.8, 1), MAX_BAR)
    for i, label in enumerate(labels):
        y = TOP + plot_h
        for name, cls, vals in series:
            h = plot_h * vals[i] / top
            if h > 0:
                y -= h
                chart.rects.append(
                    {
                        "x": round(LEFT + i * slot + (slot - bar) / 2, 2),
                        "y": round(y, 2),
                        "w": round(bar, 2),
                        "h": round(h, 2),
                        "cls": cls,
                        "title": f"{label}: {name} {fmt(vals[i])}",
                        "href": href(label, cls) if href else None,
                    }
                )
    used = [label for label, total in zip(labels, totals, strict=True) if total]
    if len(used) == 1 and len(labels) > 1:
        chart.notes.append(f"Only one bar: all of it fell in {used[0]}.")
    chart.xlabels = time_labels(labels, width)
    chart.yticks = y_ticks(top)
    return chart


def hbars(
    title: str, items: list[tuple[str, float]], cls: str = "calls", href=None
) -> Chart:
    """Horizontal bars, one per named item (per model, user or key); ``href(name)``,
    if given, is where each bar leads."""
    row = 22
    chart = Chart(title, width=BAR_WIDTH, height=max(len(items), 1) * row + 8)
    if not items or not any(v for _, v in items):
        chart.empty = True
        return chart
    top = max(v for _, v in items)
    label_w, plot_w = 160, BAR_WIDTH - 160 - 60
    for i, (name, value) in enumerate(items):
        w = plot_w * value / top if top else 0
        chart.rects.append(
            {
                "x": label_w,
                "y": 4 + i * row,
                "w": round(max(w, 1), 2),
                "h": row - 6,
                "cls": cls,
                "title": f"{name}: {fmt(value)}",
                "name": name,  # drawn as page text: whole, cut at its end if need be
                "pct": round(max(100 * value / top, 0.5), 2) if top else 0.5,
                "value": fmt(value),
                "href": href(name) if href else None,
            }
        )
    chart.bars = True
    return chart


def fmt(value: float) -> str:
    """A short human number: 950, 1.2k, 3.4M."""
    if value >= 1e6:
        return f"{value / 1e6:.1f}M"
    if value >= 1e4:
        return f"{value / 1e3:.0f}k"
    if value >= 1e3:
        return f"{value / 1e3:.1f}k"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def lines(
    title: str,
    labels: list[str],
    series: list[tuple[str, str, list[float | None]]],
    empty_text: str = "",
    width: int = WIDTH,
) -> Chart:
    """One polyline per series over time (gaps where a value is None); a series of
    one point is a larger dot, and a note under the chart says so."""
    chart = Chart(
        title,
        width=width,
        legend=[(n, c) for n, c, _ in series],
        wide=True,
        empty_text=empty_text,
    )
    values = [v for _, _, vals in series for v in vals if v is not None]
    if not labels or not values or not any(values):
        chart.empty = True
        return chart
    if width == WIDTH:
        chart.phone = lines(title, labels, series, empty_text, PHONE_WIDTH)
    top = nice_max(max(values))
    plot_w, plot_h = width - LEFT - RIGHT, HEIGHT - BOTTOM - TOP
    slot = plot_w / len(labels)
    for name, cls, vals in series:
        known = [(i, v) for i, v in enumerate(vals) if v is not None]
        points = [
            (round(LEFT + (i + 0.5) * slot, 2), round(TOP + plot_h * (1 - v / top), 2))
            for i, v in known
        ]
        lone = len(points) == 1
        if lone and width == WIDTH:
            i, v = known[0]
            chart.notes.append(
                f"{name}: one point so far ({labels[i]}: {fmt(v)}); the line "
                "appears when a second hour or day has calls."
            )
        chart.lines.append(
            {
                "cls": cls,
                "points": " ".join(f"{x},{y}" for x, y in points),
                "dots": [
                    {
                        "x": x,
                        "y": y,
                        "r": 6 if lone else 3,
                        "title": f"{labels[i]}: {name} {fmt(v)}",
                    }
                    for (x, y), (i, v) in zip(points, known, strict=True)
                ],
            }
        )
    chart.xlabels = time_labels(labels, width)
    chart.yticks = y_ticks(top)
    return chart
