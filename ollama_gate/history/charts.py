"""Server-drawn SVG charts: geometry here, drawn by ``history/_charts.html``.

No chart library and no CDN: a chart is a list of rectangles and labels, and every label
goes through Jinja's autoescaping like any other text on the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WIDTH, HEIGHT = 960, 200  # time charts span the page
BAR_WIDTH = 480  # per-model/user/key charts sit two to a row
LEFT, BOTTOM, TOP = 56, 24, 8


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
    wide: bool = False  # spans the whole row of the chart grid
    bars: bool = False  # horizontal bars: names and values as page text (``hbars``)


def nice_max(value: float) -> float:
    """A round axis maximum at or above ``value``."""
    if value <= 0:
        return 1
    step = 10 ** (len(str(int(value))) - 1)
    for mult in (1, 2, 2.5, 5, 10):
        if value <= mult * step:
            return mult * step
    return 10 * step


def stacked_bars(
    title: str,
    labels: list[str],
    series: list[tuple[str, str, list[float]]],
    href=None,
) -> Chart:
    """Stacked bars over time; ``series`` holds (name, css class, values per label);
    ``href(label, css class)``, if given, is where each bar leads."""
    chart = Chart(title, legend=[(name, cls) for name, cls, _ in series])
    totals = [sum(vals[i] for _, _, vals in series) for i in range(len(labels))]
    if not labels or not any(totals):
        chart.empty = True
        return chart
    top = nice_max(max(totals))
    chart.wide = True
    plot_w, plot_h = WIDTH - LEFT - 36, HEIGHT - BOTTOM - TOP  # room for the last label
    slot = plot_w / len(labels)
    for i, label in enumerate(labels):
        y = TOP + plot_h
        for name, cls, vals in series:
            h = plot_h * vals[i] / top
            if h > 0:
                y -= h
                chart.rects.append(
                    {
                        "x": round(LEFT + i * slot + slot * 0.1, 2),
                        "y": round(y, 2),
                        "w": round(max(slot * 0.8, 1), 2),
                        "h": round(h, 2),
                        "cls": cls,
                        "title": f"{label}: {name} {fmt(vals[i])}",
                        "href": href(label, cls) if href else None,
                    }
                )
    every = max(1, len(labels) // 8)
    chart.xlabels = [
        {"x": round(LEFT + (i + 0.5) * slot, 2), "text": label}
        for i, label in enumerate(labels)
        if i % every == 0
    ]
    chart.yticks = [
        {"y": round(TOP + plot_h * (1 - f), 2), "text": fmt(top * f)}
        for f in (0, 0.5, 1)
    ]
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
    title: str, labels: list[str], series: list[tuple[str, str, list[float | None]]]
) -> Chart:
    """One polyline per series over time (gaps where a value is None)."""
    chart = Chart(title, legend=[(name, cls) for name, cls, _ in series], wide=True)
    values = [v for _, _, vals in series for v in vals if v is not None]
    if not labels or not values or not any(values):
        chart.empty = True
        return chart
    top = nice_max(max(values))
    plot_w, plot_h = WIDTH - LEFT - 36, HEIGHT - BOTTOM - TOP
    slot = plot_w / len(labels)
    for name, cls, vals in series:
        points = [
            (round(LEFT + (i + 0.5) * slot, 2), round(TOP + plot_h * (1 - v / top), 2))
            for i, v in enumerate(vals)
            if v is not None
        ]
        chart.lines.append(
            {
                "cls": cls,
                "points": " ".join(f"{x},{y}" for x, y in points),
                "dots": [
                    {"x": x, "y": y, "title": f"{labels[i]}: {name} {fmt(v)}"}
                    for (x, y), (i, v) in zip(
                        points,
                        [(i, v) for i, v in enumerate(vals) if v is not None],
                        strict=True,
                    )
                ],
            }
        )
    every = max(1, len(labels) // 8)
    chart.xlabels = [
        {"x": round(LEFT + (i + 0.5) * slot, 2), "text": label}
        for i, label in enumerate(labels)
        if i % every == 0
    ]
    chart.yticks = [
        {"y": round(TOP + plot_h * (1 - f), 2), "text": fmt(top * f)}
        for f in (0, 0.5, 1)
    ]
    return chart
