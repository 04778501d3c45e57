"""Medians, ratios and the targets of issue 6, as JSON and as ``RESULTS.md``."""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path


def _median(values: list[float]) -> float:
    values = [v for v in values if v == v]  # drop NaN
    return statistics.median(values) if values else float("nan")


def _by(runs: list[dict]) -> dict:
    table: dict = defaultdict(lambda: defaultdict(dict))
    for run in runs:
        table[run["workload"]][run["target"]][run["repeat"]] = run
    return table


def _paired(table: dict, workload: str, a: str, b: str, metric: str, op) -> float:
    """Median over rounds of ``op(a's metric, b's metric)``, both from one round."""
    rows = table.get(workload, {})
    values = [
        op(rows[a][r][metric], rows[b][r][metric])
        for r in rows.get(a, {})
        if r in rows.get(b, {})
    ]
    return _median(values)


def summarise(runs: list[dict]) -> dict:
    """Median figures per workload and target, paired ratios, targets' verdicts."""
    table = _by(runs)
    medians = {
        w: {
            t: {
                k: _median([r[k] for r in reps.values()])
                for k, v in next(iter(reps.values())).items()
                if isinstance(v, (int, float)) and k != "repeat"
            }
            for t, reps in targets.items()
        }
        for w, targets in table.items()
    }
    ratio = lambda a, b: a / b if b else float("nan")  # noqa: E731
    delta = lambda a, b: a - b  # noqa: E731
    figures = {
        "stream64_ratio": _paired(
            table, "stream64", "gateway", "direct", "calls_per_s", ratio
        ),
        "stream64_nohist_ratio": _paired(
            table, "stream64", "gateway_nohist", "direct", "calls_per_s", ratio
        ),
        "history_on_vs_off": _paired(
            table, "stream64", "gateway", "gateway_nohist", "calls_per_s", ratio
        ),
        "ttft_added_ms": _paired(
            table, "ttft", "gateway", "direct", "ttft_p50_ms", delta
        ),
        "whole_ratio": _paired(
            table, "whole", "gateway", "direct", "calls_per_s", ratio
        ),
        "sse64_ratio": _paired(
            table, "sse64", "gateway", "direct", "calls_per_s", ratio
        ),
        "cachehit_ratio": _paired(
            table, "cachehit", "gateway", "direct", "total_p50_ms", ratio
        ),
        "conc_p99_added_ms": _paired(
            table, "conc", "gateway", "direct", "first_p99_ms", delta
        ),
    }
    g = lambda w, k: medians.get(w, {}).get("gateway", {}).get(k, float("nan"))  # noqa: E731
    conc_runs = list(table.get("conc", {}).get("gateway", {}).values())
    all_done = bool(conc_runs) and all(
        r["completed"] == r["streams"] for r in conc_runs
    )
    peak = max(
        (max(r["peak_rss_mb"], r["hwm_mb"]) for r in conc_runs), default=float("nan")
    )
    targets = [
        (
            "streamed 64 tokens, 16 clients: throughput",
            figures["stream64_ratio"],
            "≥ 0.40 × direct",
            figures["stream64_ratio"] >= 0.40,
            "{:.3f} ×",
        ),
        (
            "added time to first token, 1 client (p50)",
            figures["ttft_added_ms"],
            "≤ 1.5 ms",
            figures["ttft_added_ms"] <= 1.5,
            "+{:.2f} ms",
        ),
        (
            "whole generate, 16 clients: throughput",
            figures["whole_ratio"],
            "≥ 0.25 × direct",
            figures["whole_ratio"] >= 0.25,
            "{:.3f} ×",
        ),
        (
            "gateway CPU per 64-token streamed call",
            g("stream64", "cpu_ms_per_call"),
            "≤ 1.5 ms",
            g("stream64", "cpu_ms_per_call") <= 1.5,
            "{:.2f} ms",
        ),
        (
            "gateway CPU per whole call",
            g("whole", "cpu_ms_per_call"),
            "≤ 1.0 ms",
            g("whole", "cpu_ms_per_call") <= 1.0,
            "{:.2f} ms",
        ),
        (
            "concurrent streams: all complete",
            float(all_done),
            "all",
            all_done,
            "{:.0f}",
        ),
        (
            "concurrent streams: first token p99 over direct",
            figures["conc_p99_added_ms"],
            "≤ 1000 ms",
            figures["conc_p99_added_ms"] <= 1000,
            "+{:.0f} ms",
        ),
        (
            "concurrent streams: gateway peak RSS",
            peak,
            "≤ 250 MB",
            peak <= 250,
            "{:.0f} MB",
        ),
        (
            "history on vs off: throughput",
            figures["history_on_vs_off"],
            "≥ 0.90",
            figures["history_on_vs_off"] >= 0.90,
            "{:.3f} ×",
        ),
    ]
    verdicts = [
        {
            "target": name,
            "value": value,
            "goal": goal,
            "met": bool(met),
            "shown": ("yes" if met else "no")
            if fmt == "{:.0f}" and goal == "all"
            else fmt.format(value),
        }
        for name, value, goal, met, fmt in targets
    ]
    return {"medians": medians, "figures": figures, "targets": verdicts}


ROWS = [  # workload, metric, label, format
    ("stream64", "calls_per_s", "calls/s", "{:.0f}"),
    ("stream64", "tokens_per_s", "tokens/s", "{:.0f}"),
    ("stream64", "cpu_ms_per_call", "CPU ms/call (server processes)", "{:.2f}"),
    ("ttft", "ttft_p50_ms", "first token p50, ms", "{:.2f}"),
    ("ttft", "ttft_p90_ms", "first token p90, ms", "{:.2f}"),
    ("ttft", "total_p50_ms", "whole answer p50, ms", "{:.2f}"),
    ("whole", "calls_per_s", "calls/s", "{:.0f}"),
    ("whole", "cpu_ms_per_call", "CPU ms/call (server processes)", "{:.2f}"),
    ("sse64", "calls_per_s", "calls/s", "{:.0f}"),
    ("sse64", "cpu_ms_per_call", "CPU ms/call (server processes)", "{:.2f}"),
    ("cachehit", "total_p50_ms", "whole answer p50, ms", "{:.2f}"),
    ("cachehit", "total_p90_ms", "whole answer p90, ms", "{:.2f}"),
    ("conc", "completed", "completed streams", "{:.0f}"),
    ("conc", "first_p50_ms", "first token p50, ms", "{:.0f}"),
    ("conc", "first_p99_ms", "first token p99, ms", "{:.0f}"),
    ("conc", "peak_rss_mb", "peak RSS of the server, MB", "{:.0f}"),
]


def _fmt(fmt: str, value) -> str:
    return "–" if value is None or value != value else fmt.format(value)


def write_markdown(path: Path, meta: dict, summary: dict, work: list[dict]) -> None:
    """Write the results table, the targets and how the run was made."""
    path.write_text(markdown(meta, summary, work))


def markdown(meta: dict, summary: dict, work: list[dict]) -> str:
    """The results table, the targets and how the run was made (the burst set)."""
    titles = {w["name"]: w["title"] for w in work}
    med = summary["medians"]
    lines = [
        "# Benchmark results",
        "",
        f"`python bench/run.py{' --quick' if meta['quick'] else ''}` on "
        f"{meta['date']}, commit {meta['commit']}, {meta['cpus']} CPUs, Python "
        f"{meta['python']}, {meta['repeats']} interleaved rounds (medians), "
        f"{meta['seconds']} s; load average at start {meta['loadavg'][0]:.2f}.",
        "",
        "Direct = the fake upstream alone; gateway = gunicorn with one gevent worker "
        "on the default configuration (keys, rate limit 600/minute per key, quotas "
        "and history on; the load is spread over 64 keys to stay under the rate "
        "limit); history off = the same with `OLLAMA_GATE_HISTORY_MODE=off`. Server "
        "CPU is the upstream's own for direct and the gateway's (master and worker) "
        "otherwise. Ratios and deltas are paired per round.",
        "",
        "Where the time goes, and what the unmet targets would take: "
        "[PROFILE.md](PROFILE.md).",
        "",
        "## Targets (issue 6)",
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
        "## Figures",
        "",
        "| workload | metric | direct | gateway | gateway, history off |",
        "|---|---|---|---|---|",
    ]
    for w, metric, label, fmt in ROWS:
        if w not in med:
            continue
        cells = [
            _fmt(fmt, med[w].get(t, {}).get(metric))
            for t in ("direct", "gateway", "gateway_nohist")
        ]
        lines.append(f"| {titles.get(w, w)} | {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Ratios: "
        + ", ".join(
            f"{k} = {_fmt('{:.3f}', v)}" for k, v in summary["figures"].items()
        ),
        "",
    ]
    return "\n".join(lines)
