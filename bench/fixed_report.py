"""Issue 31's figures (the fixed cost of a call) from one full run, as a section of
``RESULTS.md``, beside the design card's own floor when the run had ``--floor``.

The floors (``floor.py``) are relays with no gateway in them: ``floor_flask`` the
plainest Flask route on ``requests``, ``floor_wsgi`` a bare WSGI callable on raw
sockets. A figure the Flask floor cannot reach in the same run is below what the
card's stack costs before any of the gateway's own work.
"""

from __future__ import annotations

from report import _fmt, _median, _paired

HEADING = "## The fixed cost of a call (issue 31)"
FLOORS = ("floor_flask", "floor_wsgi")


def _rows(table: dict) -> list[tuple]:
    """(figure, how it is read for a target, goal, met, format) per figure."""
    ratio = lambda a, b: a / b if b else float("nan")  # noqa: E731
    delta = lambda a, b: a - b  # noqa: E731

    def cpu(workload: str, target: str) -> float:
        reps = table.get(workload, {}).get(target, {}).values()
        return _median([r["cpu_ms_per_call"] for r in reps])

    def peak(target: str) -> float | None:
        reps = table.get("paced1000", {}).get(target, {}).values()
        return max((r["peak_rss_mb"] for r in reps), default=None)

    return [
        ("200 paced streams: first token p99 over direct's",
         lambda t: _paired(table, "paced200", t, "direct", "first_p99_ms", ratio),
         "≤ 1.5 ×", lambda v: v <= 1.5, "{:.2f} ×"),
        ("200 paced streams: token gap p99 over direct's",
         lambda t: _paired(table, "paced200", t, "direct", "gap_p99_ms", ratio),
         "≤ 1.2 ×", lambda v: v <= 1.2, "{:.2f} ×"),
        ("1,000 slow streams: first token p99 over direct's",
         lambda t: _paired(table, "paced1000", t, "direct", "first_p99_ms", delta),
         "≤ +150 ms", lambda v: v <= 150, "+{:.0f} ms"),
        ("1,000 slow streams: peak RSS, one worker", peak, "≤ 130 MB",
         lambda v: v <= 130, "{:.0f} MB"),
        ("CPU per streamed call, 64 tokens", lambda t: cpu("stream64", t),
         "≤ 0.5 ms", lambda v: v <= 0.5, "{:.2f} ms"),
        ("CPU per whole call", lambda t: cpu("whole", t), "≤ 0.4 ms",
         lambda v: v <= 0.4, "{:.2f} ms"),
    ]  # fmt: skip


def summarise_fixed(table: dict) -> list[dict]:
    """Each figure for the gateway (with its verdict) and for each floor run."""
    out = []
    for name, value_of, goal, meets, fmt in _rows(table):
        value = value_of("gateway")
        floors = {f: value_of(f) for f in FLOORS if any(f in t for t in table.values())}
        met = value is not None and value == value and meets(value)
        out.append(
            {
                "target": name,
                "value": value,
                "goal": goal,
                "met": bool(met),
                "shown": _fmt(fmt, value),
                "floors": {f: _fmt(fmt, v) for f, v in floors.items()},
            }
        )
    return out


def markdown(meta: dict, rows: list[dict]) -> str:
    """The section: the figures, the gateway's verdicts, the floors beside them."""
    floors = [f for f in FLOORS if rows and f in rows[0]["floors"]]
    names = {"floor_flask": "Flask + requests relay", "floor_wsgi": "bare WSGI relay"}
    lines = [
        HEADING,
        "",
        f"From the same run as the sections above ({meta['date']}, commit "
        f"{meta['commit']}). The relays with no gateway in them (`--floor`, "
        "`bench/floor.py`) ran the same workloads in the same rounds: a figure "
        "the Flask + requests relay misses is below what the design card's stack "
        "costs before any of the gateway's own work. What the unmet ones would "
        'take: [PROFILE.md](PROFILE.md), "The fixed cost of a call".',
        "",
        "| figure | gateway | goal | met | "
        + " | ".join(names[f] for f in floors)
        + (" |" if floors else "|"),
        "|---|---|---|---|" + "---|" * len(floors),
    ]
    for r in rows:
        cells = "".join(f" {r['floors'][f]} |" for f in floors)
        met = "yes" if r["met"] else "**no**"
        lines.append(f"| {r['target']} | {r['shown']} | {r['goal']} | {met} |{cells}")
    return "\n".join(lines) + "\n"
