"""The paced streams' figures and the targets of issue 18, as a section of
``RESULTS.md`` of their own (a run of the burst set alone keeps it, and the other way
round)."""

from __future__ import annotations

from procs import FLOORS
from report import _by, _fmt, _paired

HEADING = "## Paced streams (issue 18)"
TARGETS = ("direct", "nginx", "gateway", "gateway_nohist", *FLOORS)


def summarise_paced(runs: list[dict], medians: dict) -> dict:
    """Paired ratios and deltas of the paced workloads, and the targets' verdicts."""
    table = _by(runs)
    ratio = lambda a, b: a / b if b else float("nan")  # noqa: E731
    delta = lambda a, b: a - b  # noqa: E731
    figures = {
        "paced200_cpu_vs_nginx": _paired(
            table, "paced200", "gateway", "nginx", "cpu_ms_per_stream", ratio
        ),
        "paced200_first_p99_vs_direct": _paired(
            table, "paced200", "gateway", "direct", "first_p99_ms", ratio
        ),
        "paced200_gap_p99_vs_direct": _paired(
            table, "paced200", "gateway", "direct", "gap_p99_ms", ratio
        ),
        "paced500_cpu_vs_nginx": _paired(
            table, "paced500", "gateway", "nginx", "cpu_ms_per_stream", ratio
        ),
        "paced500_first_p99_vs_direct": _paired(
            table, "paced500", "gateway", "direct", "first_p99_ms", ratio
        ),
        "paced500_gap_p99_vs_direct": _paired(
            table, "paced500", "gateway", "direct", "gap_p99_ms", ratio
        ),
        "paced1000_first_p99_added_ms": _paired(
            table, "paced1000", "gateway", "direct", "first_p99_ms", delta
        ),
    }
    for floor in FLOORS:  # present with run.py --floor
        if floor in table.get("paced200", {}):
            figures[f"paced200_{floor}_cpu_vs_nginx"] = _paired(
                table, "paced200", floor, "nginx", "cpu_ms_per_stream", ratio
            )
    g1000 = list(table.get("paced1000", {}).get("gateway", {}).values())
    peak = max((r["peak_rss_mb"] for r in g1000), default=float("nan"))
    figures["paced1000_peak_rss_mb"] = peak
    done = all(
        r["completed"] == r["streams"]
        for w in table
        if w.startswith("paced")
        for reps in table[w].values()
        for r in reps.values()
    )
    f = figures
    rows = [
        ("200 streams: gateway CPU per stream over nginx's",
         f["paced200_cpu_vs_nginx"], "≤ 2 ×", f["paced200_cpu_vs_nginx"] <= 2,
         "{:.2f} ×"),
        ("200 streams: first token p99 over direct's",
         f["paced200_first_p99_vs_direct"], "≤ 1.5 ×",
         f["paced200_first_p99_vs_direct"] <= 1.5, "{:.2f} ×"),
        ("200 streams: token gap p99 over direct's",
         f["paced200_gap_p99_vs_direct"], "≤ 1.5 ×",
         f["paced200_gap_p99_vs_direct"] <= 1.5, "{:.2f} ×"),
        ("1,000 streams: first token p99 over direct's",
         f["paced1000_first_p99_added_ms"], "≤ +250 ms",
         f["paced1000_first_p99_added_ms"] <= 250, "+{:.0f} ms"),
        ("1,000 streams: gateway peak RSS", peak, "≤ 150 MB", peak <= 150,
         "{:.0f} MB"),
        ("every paced stream complete and exact", float(done), "all", done, "all"),
    ]  # fmt: skip
    verdicts = [
        {
            "target": name,
            "value": value,
            "goal": goal,
            "met": bool(met),
            "shown": ("yes" if met else "no") if fmt == "all" else _fmt(fmt, value),
        }
        for name, value, goal, met, fmt in rows
    ]
    paced = {w: m for w, m in medians.items() if w.startswith("paced")}
    return {"medians": paced, "figures": figures, "targets": verdicts}


ROWS = [  # metric, label, format
    ("cpu_ms_per_stream", "CPU ms per stream (server processes)", "{:.2f}"),
    ("cpu_us_per_token", "CPU µs per token", "{:.1f}"),
    ("first_p50_ms", "first token p50, ms", "{:.1f}"),
    ("first_p99_ms", "first token p99, ms", "{:.1f}"),
    ("gap_p50_ms", "token gap p50, ms", "{:.1f}"),
    ("gap_p99_ms", "token gap p99, ms", "{:.1f}"),
    ("peak_rss_mb", "peak RSS, MB", "{:.0f}"),
]


def markdown(meta: dict, summary: dict, work: list[dict]) -> str:
    """The section: how it ran, the targets, the figures."""
    titles = {w["name"]: w["title"] for w in work}
    med = summary["medians"]
    shown = [t for t in TARGETS if any(t in med[w] for w in med)]
    names = {
        "direct": "direct",
        "nginx": "nginx",
        "gateway": "gateway",
        "gateway_nohist": "gateway, second",
        "floor_wsgi": "bare WSGI relay",
        "floor_flask": "Flask + requests relay",
    }
    lines = [
        HEADING,
        "",
        f"`python bench/run.py --paced{' --quick' if meta['quick'] else ''}` on "
        f"{meta['date']}, commit {meta['commit']}, {meta['repeats']} interleaved "
        f"rounds (medians), {meta['seconds']} s; load average at start "
        f"{meta['loadavg'][0]:.2f}.",
        "",
        "Each stream is one chunk per token, the delay slept before each token "
        "(`options.bench_delay`); the streams start spread over a ramp on "
        "keep-alive connections opened before (`bench/paced.py`). nginx: one worker, "
        "`proxy_buffering off`, kept-alive upstream connections. CPU is the "
        "upstream's own for direct, nginx's or the gateway's otherwise, over the "
        "whole window; the token gap is between one token line and the next as the "
        "client receives them. Where the time goes, before and after, and what the "
        'unmet targets would take: [PROFILE.md](PROFILE.md), "Paced streams".',
        "",
        "| target | measured | goal | met |",
        "|---|---|---|---|",
    ]
    for t in summary["targets"]:
        lines.append(
            f"| {t['target']} | {t['shown']} | {t['goal']} | "
            f"{'yes' if t['met'] else '**no**'} |"
        )
    lines += [
        "",
        "| workload | metric | " + " | ".join(names[t] for t in shown) + " |",
        "|---|---|" + "---|" * len(shown),
    ]
    for w in med:
        for metric, label, fmt in ROWS:
            cells = [_fmt(fmt, med[w].get(t, {}).get(metric)) for t in shown]
            row = f"| {titles.get(w, w)} | {label} | " + " | ".join(cells)
            lines.append(row + " |")
    lines += [
        "",
        "Ratios: "
        + ", ".join(
            f"{k} = {_fmt('{:.3f}', v)}" for k, v in summary["figures"].items()
        ),
        "",
    ]
    return "\n".join(lines)
