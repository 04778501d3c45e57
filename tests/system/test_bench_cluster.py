"""bench/cluster.py: the arithmetic on records alone, and a quick run of the whole
bench (two hosts x two workers on Redis and PostgreSQL) that checks every answer
(no timings asserted)."""

from __future__ import annotations

import subprocess
import sys
from math import inf

import pytest

from tests.helpers.paths import ROOT

sys.path.insert(0, str(ROOT / "bench"))

from cluster_stats import gap_figures, gaps, pct, served  # noqa: E402

# [tag, arrived, began, ended] as the fake records them; two slots
EVENTS = [
    ["busy/0/1", 0.0, 0.0, 1.0],
    ["busy/0/2", 0.0, 0.0, 1.5],
    ["other/1/3", 1.004, 1.004, 2.0],  # waited: took the slot freed at 1.0
    ["busy/0/4", 1.52, 1.52, 2.5],  # waited: took the one freed at 1.5
    ["busy/0/5", 3.0, 3.0, 3.5],  # did not wait: a slot idle since 2.0
]


def test_gaps_pair_each_waiting_call_with_the_oldest_slot_freed():
    found = gaps(EVENTS, 2, {"other/1/3", "busy/0/4"})
    assert [round(g.seconds * 1000) for g in found] == [4, 20]
    assert [g.cross for g in found] == [True, False]  # host 0 -> 1, then 0 -> 0
    figs = gap_figures(found)
    assert figs["cross-host"]["n"] == 1 and figs["same host"]["n"] == 1
    assert round(figs["all"]["max"]) == 20


def test_a_call_the_fake_queued_takes_no_slot_of_the_gateways():
    events = [*EVENTS[:2], ["late/1/9", 0.5, 1.0, 1.8]]  # a third call at once
    # its arrival finds no slot (the fake queued it): the slot freed at 1.0 is its,
    # and the next arrival is paired with the one freed at 1.5
    events.append(["next/1/10", 1.6, 1.6, 2.0])
    found = gaps(events, 2, {"late/1/9", "next/1/10"})
    assert [round(g.seconds * 1000) for g in found] == [100]


def test_served_counts_calls_begun_in_the_window_per_tenant():
    assert served(EVENTS, 1.0, 3.0) == {"other": 1, "busy": 1}
    assert pct([3.0, 1.0, 2.0, 4.0], 50) == 2.0 and pct([1.0], 99) == 1.0


@pytest.mark.needs_postgres
@pytest.mark.needs_redis
def test_quick_cluster_run_answers_every_call(tmp_path):
    out = tmp_path / "cluster.md"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "cluster.py"), "--quick"]
        + ["--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = out.read_text()
    assert "| failed calls (all scenarios) | 0 | 0 |" in table
    for figure in ("1. quiet p95 beside the flood / alone", "2. weights 2:1"):
        assert f"| {figure}" in table
    assert "| 4. slot freed to next call on the backend, cross-host" in table
    assert "calls at once on the backend (cap)" not in table  # slots held exactly


def test_handoff_figures_read_percentiles_as_bucket_edges():
    from cluster_metrics import figures, since

    before = [{"other": {"buckets": {0.001: 1, 0.005: 1, 0.01: 1, inf: 1}, "sum": 0.5}}]
    after = [
        {"other": {"buckets": {0.001: 50, 0.005: 99, 0.01: 101, inf: 101}, "sum": 0.7}},
    ]
    got = since(before, after)["other"]
    f = figures(got)
    assert f["n"] == 100 and f["p50"] == 5 and f["p99"] == 10  # 98 within 5 ms
    assert f["within5"] == 98 and round(f["mean"], 6) == 2
    assert figures({"buckets": {}}) == {"n": 0}
