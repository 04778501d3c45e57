"""bench/: the quick run works end to end and checks every answer (no timings)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from client import BadAnswer, Result, Spec  # noqa: E402
from nginx import nginx_binary  # noqa: E402
from upstream import expected_text  # noqa: E402


def test_quick_run_checks_every_answer(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run.py"),
            "--quick",
            "--burst",
            "--no-history-off",
            "--out",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    seen = {(r["workload"], r["target"]) for r in results["runs"]}
    for workload in ("stream64", "ttft", "whole", "sse64", "cachehit", "conc"):
        assert {(workload, "direct"), (workload, "gateway")} <= seen
    for run in results["runs"]:
        assert run["errors"] == 0 and run["checked"] > 0, run
    hits = [r for r in results["runs"] if r["workload"] == "cachehit"]
    assert [r["hits"] for r in hits if r["target"] == "gateway"] == [20]  # all of them
    conc = [r for r in results["runs"] if r["workload"] == "conc"]
    assert all(r["completed"] == r["streams"] for r in conc)
    table = (tmp_path / "RESULTS.md").read_text()
    assert "| streamed 64 tokens, 16 clients: throughput |" in table


def test_quick_paced_run_times_every_token_beside_direct_nginx_and_floors(tmp_path):
    """The paced set (issue 18) in its quick form: every stream complete and checked,
    each token timed, beside direct, the bare relays of bench/floor.py (--floor) and
    nginx where it is installed; RESULTS.md gets its paced section and keeps the burst
    figures it had."""
    (tmp_path / "RESULTS.md").write_text("# Benchmark results\n\nthe burst table\n")
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--paced"]
        + ["--floor", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    results = json.loads((tmp_path / "paced.json").read_text())
    targets = ["direct", "gateway", "floor_wsgi", "floor_flask"]
    targets += ["nginx"] if nginx_binary() else []
    seen = {(r["workload"], r["target"]) for r in results["runs"]}
    for workload in ("paced200", "paced500", "paced1000"):
        assert {(workload, t) for t in targets} <= seen
    for run in results["runs"]:
        assert run["errors"] == 0 and run["completed"] == run["streams"] > 0, run
        assert run["gap_p99_ms"] == run["gap_p99_ms"]  # tokens were timed (not NaN)
    table = (tmp_path / "RESULTS.md").read_text()
    assert "## Paced streams (issue 18)" in table
    assert "| 200 streams: token gap p99 over direct's |" in table
    assert "| bare WSGI relay | Flask + requests relay |" in table
    assert table.startswith("# Benchmark results\n\nthe burst table\n")
    assert not (tmp_path / "results.json").exists()  # no burst figures were made


def test_paced_token_times_count_every_line_of_a_chunk():
    from paced import token_times

    res = Result(0.0, marks=[(1.0, 1), (2.0, 2), (3.0, 1)])
    assert token_times(res, 3) == [1.0, 2.0, 2.0]  # two tokens came in one chunk


def _stream(n: int, final: dict) -> bytes:
    lines = [json.dumps({"response": "x", "done": False}) for _ in range(n)]
    return ("\n".join([*lines, json.dumps(final)]) + "\n").encode()


GOOD = {"done": True, "eval_count": 3}


@pytest.mark.parametrize(
    "body",
    [
        _stream(2, {**GOOD}),  # a token missing
        _stream(3, {"done": False, "eval_count": 3}),  # no final done
        _stream(3, {"done": True, "eval_count": 2}),  # wrong statistics
        _stream(3, GOOD)[:-1],  # cut mid-line
    ],
)
def test_client_rejects_wrong_streams(body):
    spec = Spec("/api/generate", {}, 3, "ndjson")
    spec.check(Result(0.0, status=200, body=_stream(3, GOOD)))  # the right one passes
    with pytest.raises(BadAnswer):
        spec.check(Result(0.0, status=200, body=body))


def test_client_rejects_wrong_whole_answers_and_statuses():
    spec = Spec("/api/generate", {}, 3, "whole")
    good = {"response": expected_text(3), "done": True, "eval_count": 3}
    spec.check(Result(0.0, status=200, body=json.dumps(good).encode()))
    for bad in ({**good, "response": expected_text(2)}, {**good, "done": False}):
        with pytest.raises(BadAnswer):
            spec.check(Result(0.0, status=200, body=json.dumps(bad).encode()))
    with pytest.raises(BadAnswer):
        spec.check(Result(0.0, status=429, body=b'{"error": "rate limit"}'))


def _bench_module(name: str):
    """A bench/ script by path (``profile`` would be the standard library's)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        f"bench_{name}", ROOT / "bench" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_profile_stages_give_a_sample_to_its_innermost_stage(tmp_path):
    stages = _bench_module("profile").stages
    view = "proxy (ollama_gate/proxy/views.py:91)"
    flask = "Flask.wsgi_app (flask/app.py:1511)"
    lines = [
        # the limits stage's own step, under Flask and the view
        f"{flask};{view};Limits.admit (ollama_gate/limits/__init__.py:76) 3",
        # urllib3 under the view: the upstream stage, not the view's own code
        f"{flask};{view};HTTPConnectionPool.urlopen (urllib3/connectionpool.py:1) 5",
        # no stage at all
        "Hub.run (gevent/hub.py:647) 2",
    ]
    path = tmp_path / "stacks.txt"
    path.write_text("\n".join(lines) + "\n")
    shares = dict(stages(path))
    assert shares["7 step: Limits.admit"] == 0.3
    assert shares["9 upstream: send, answer's head (urllib3, http.client)"] == 0.5
    assert (
        shares["Z other: gevent hub and timers, socket waits, garbage collection"]
        == 0.2
    )


def test_ab_pairs_the_two_checkouts_round_by_round():
    table = _bench_module("ab").table
    runs = [
        {"workload": "whole", "repeat": r, "target": t, "cpu_ms_per_call": v}
        for r, (a, b) in enumerate([(1.0, 0.8), (2.0, 1.0), (1.0, 0.9)])
        for t, v in (("direct", 0.2), ("gateway", a), ("gateway_nohist", b))
    ]
    (line,) = [x for x in table(runs) if "cpu_ms_per_call" in x]
    # medians 1.0 and 0.9; the paired ratios 0.8, 0.5, 0.9 have the median 0.8
    assert line.split()[2:] == ["0.20", "1.00", "0.90", "0.800"]


def test_the_fixed_cost_section_judges_the_gateway_and_shows_the_floors_beside():
    """Issue 31's section: the gateway's figure against its goal, paired per round
    with direct, and each floor's figure from the same rounds beside it."""
    from fixed_report import markdown as fixed_markdown
    from fixed_report import summarise_fixed
    from report import _by

    def run(workload, target, repeat, **figures):
        return {"workload": workload, "target": target, "repeat": repeat, **figures}

    runs = []
    for rep in (0, 1, 2):
        for target, first, gap, rss, cpu in (
            ("direct", 20.0, 20.0, 30.0, 0.2),
            ("gateway", 28.0 + rep, 26.0, 140.0 + rep, 1.1),
            ("floor_flask", 40.0, 22.0, 120.0, 1.3),
            ("floor_wsgi", 21.0, 20.5, 80.0, 0.25),
        ):
            runs.append(
                run("paced200", target, rep, first_p99_ms=first, gap_p99_ms=gap)
            )
            runs.append(
                run("paced1000", target, rep, first_p99_ms=1000 + first,
                    peak_rss_mb=rss)
            )  # fmt: skip
            runs.append(run("stream64", target, rep, cpu_ms_per_call=cpu * 2))
            runs.append(run("whole", target, rep, cpu_ms_per_call=cpu))
    rows = {r["target"]: r for r in summarise_fixed(_by(runs))}
    first = rows["200 paced streams: first token p99 over direct's"]
    assert first["shown"] == "1.45 ×" and first["met"]  # 29 / 20: the median round
    gap = rows["200 paced streams: token gap p99 over direct's"]
    assert gap["shown"] == "1.30 ×" and not gap["met"]
    assert gap["floors"] == {"floor_flask": "1.10 ×", "floor_wsgi": "1.02 ×"}
    rss = rows["1,000 slow streams: peak RSS, one worker"]
    assert rss["shown"] == "142 MB" and not rss["met"]  # the highest round's peak
    assert rows["1,000 slow streams: first token p99 over direct's"]["shown"] == "+9 ms"
    whole = rows["CPU per whole call"]
    assert whole["shown"] == "1.10 ms" and whole["floors"]["floor_flask"] == "1.30 ms"
    text = fixed_markdown({"date": "d", "commit": "c"}, list(rows.values()))
    assert (
        "| CPU per whole call | 1.10 ms | ≤ 0.4 ms | **no** | 1.30 ms | 0.25 ms |"
        in text
    )
