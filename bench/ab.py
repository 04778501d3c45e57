"""Print an A/B run of two checkouts (``run.py --second-root``) from its raw figures.

``python bench/ab.py bench/raw/<stamp>.json`` prints, per workload and figure, the
median for direct, this checkout's gateway (A) and the second checkout's (B), and the
median of the ratios B / A paired per round (the rounds are interleaved, so a pair
shares the machine's moment).
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict

FIGURES = (
    "cpu_ms_per_call",
    "cpu_ms_per_stream",
    "calls_per_s",
    "ttft_p50_ms",
    "first_p50_ms",
    "first_p99_ms",
    "gap_p99_ms",
    "peak_rss_mb",
)


def table(runs: list[dict]) -> list[str]:
    """One line per workload and figure: direct, A, B, paired B / A."""
    by = defaultdict(dict)  # (workload, repeat) -> target -> run
    for r in runs:
        by[(r["workload"], r["repeat"])][r["target"]] = r
    out = [f"{'workload':10s} {'figure':18s} {'direct':>9s} {'A':>9s} {'B':>9s} B/A"]
    for work in dict.fromkeys(w for w, _ in by):
        rounds = [t for (w, _), t in by.items() if w == work]
        for fig in FIGURES:
            pairs = [
                (
                    t.get("direct", {}).get(fig),
                    t["gateway"][fig],
                    t["gateway_nohist"][fig],
                )
                for t in rounds
                if fig in t.get("gateway", {}) and fig in t.get("gateway_nohist", {})
            ]
            if not pairs:
                continue
            med = [
                statistics.median(x) if None not in x else float("nan")
                for x in zip(*pairs, strict=True)
            ]
            ratio = statistics.median(b / a for _, a, b in pairs if a)
            out.append(
                f"{work:10s} {fig:18s} {med[0]:9.2f} {med[1]:9.2f} "
                f"{med[2]:9.2f} {ratio:6.3f}"
            )
    return out


if __name__ == "__main__":
    data = json.load(open(sys.argv[1]))
    print(data["meta"]["date"], "load", data["meta"]["loadavg"])
    print("\n".join(table(data["runs"])))
