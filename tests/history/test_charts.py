"""The dashboard's time charts: a lone point or bar drawn visibly and said so, empty
charts that say why, and a phone drawing whose time labels fit without scrolling."""

from __future__ import annotations

from ollama_gate.history.charts import (
    MAX_BAR,
    PHONE_WIDTH,
    WIDTH,
    lines,
    stacked_bars,
)

HOURS = [f"2026-12-0{6 + h // 24} {h % 24:02d}:00" for h in range(12, 60)]


def test_a_lone_point_is_a_large_dot_and_a_note():
    values = [None] * len(HOURS)
    values[5] = 120.0
    chart = lines("TTFB", HOURS, [("p50", "p50", values)])
    (dot,) = chart.lines[0]["dots"]
    assert dot["r"] >= 6  # not a 3 px dot on an empty axis
    assert chart.notes == [
        "p50: one point so far (2026-12-06 17:00: 120); the line appears when a "
        "second hour or day has calls."
    ]
    two = lines("TTFB", HOURS, [("p50", "p50", [*values[:6], 80.0, *values[7:]])])
    assert two.notes == [] and {d["r"] for d in two.lines[0]["dots"]} == {3}


def test_a_lone_bar_is_a_bar_not_a_block():
    calls = [0.0] * len(HOURS)
    calls[3] = 4.0
    chart = stacked_bars("Calls", HOURS, [("ok", "ok", calls)])
    (bar,) = chart.rects
    assert bar["w"] <= MAX_BAR
    assert chart.notes == ["Only one bar: all of it fell in 2026-12-06 15:00."]
    alone = stacked_bars("Calls", ["2026-12-06"], [("ok", "ok", [3.0])])
    assert alone.rects[0]["w"] == MAX_BAR and alone.notes == []


def test_empty_charts_say_why():
    chart = lines("Speed", HOURS, [("tokens/s", "tps", [None] * len(HOURS))], "Why.")
    assert chart.empty and chart.empty_text == "Why." and chart.phone is None
    assert stacked_bars("Calls", HOURS, [("ok", "ok", [0.0] * len(HOURS))]).empty


def test_the_phone_drawing_has_few_short_time_labels():
    calls = [float(i % 5) for i in range(len(HOURS))]
    chart = stacked_bars("Calls", HOURS, [("ok", "ok", calls)])
    assert chart.width == WIDTH and len(chart.xlabels) <= 8
    phone = chart.phone
    assert phone.width == PHONE_WIDTH and 2 <= len(phone.xlabels) <= 4
    texts = [label["text"] for label in phone.xlabels]
    assert all(len(t) <= 5 for t in texts), texts
    assert texts[0] == "12-06" and "12-07" in texts  # a new day names its date
    assert all(label["x"] <= PHONE_WIDTH - 20 for label in phone.xlabels)
    days = [f"2026-11-{d:02d}" for d in range(1, 31)]
    month = stacked_bars("Calls", days, [("ok", "ok", [1.0] * 30)]).phone
    assert [t["text"] for t in month.xlabels] == ["11-01", "11-09", "11-17", "11-25"]
