"""The gateway's own hand-off histogram (``ollama_gate_queue_handoff_seconds``, issue
28's "slot freed to grant", timed on Redis' clock by the give and take scripts),
read from each host's ``/metrics`` before and after a scenario: the difference is
the scenario's. A checkout without it (main before the histogram) reads as empty.

The histogram has buckets, not samples: a percentile is known only as the bucket
edge it falls under ("<= 5 ms"), which is enough to say whether p99 <= 5 ms."""

from __future__ import annotations

import math

NAME = "ollama_gate_queue_handoff_seconds"


def read(port: int) -> dict[str, dict]:
    """One host's hand-offs so far: label -> {"buckets": {le: count}, "sum": s}."""
    import requests
    from prometheus_client.parser import text_string_to_metric_families

    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    found: dict[str, dict] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if not s.name.startswith(NAME):
                continue
            row = found.setdefault(s.labels.get("worker", "?"), {"buckets": {}})
            if s.name == NAME + "_bucket":
                row["buckets"][float(s.labels["le"])] = s.value
            elif s.name == NAME + "_sum":
                row["sum"] = s.value
    return found


def since(before: list[dict], after: list[dict]) -> dict[str, dict]:
    """Hand-offs between two reads of every host, added up per label."""
    total: dict[str, dict] = {}
    for old, new in zip(before, after, strict=True):
        for label, row in new.items():
            was = old.get(label, {"buckets": {}, "sum": 0.0})
            t = total.setdefault(label, {"buckets": {}, "sum": 0.0})
            for le, n in row["buckets"].items():
                t["buckets"][le] = (
                    t["buckets"].get(le, 0) + n - was["buckets"].get(le, 0)
                )
            t["sum"] += row.get("sum", 0.0) - was.get("sum", 0.0)
    return total


def figures(row: dict) -> dict[str, float]:
    """n, mean (ms), the share within 5 ms, and p50 / p99 as bucket edges (ms)."""
    buckets = sorted(row["buckets"].items())
    n = buckets[-1][1] if buckets else 0
    if not n:
        return {"n": 0}

    def edge(p: float) -> float:
        for le, count in buckets:
            if count >= n * p / 100:
                return le * 1000
        return math.inf

    within = next((c for le, c in buckets if le >= 0.005), n)
    return {
        "n": n,
        "mean": row["sum"] / n * 1000,
        "within5": within / n * 100,
        "p50": edge(50),
        "p99": edge(99),
    }


def describe(f: dict[str, float]) -> str:
    if not f["n"]:
        return "none"
    return (
        f"p50 <= {f['p50']:g} / p99 <= {f['p99']:g} ms, mean {f['mean']:.2f} ms, "
        f"{f['within5']:.1f}% within 5 ms ({f['n']:.0f})"
    )
