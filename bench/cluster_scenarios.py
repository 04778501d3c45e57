"""The cluster bench's scenarios (``cluster.py`` runs them and prints the table):
each runs tenants' calls (``cluster_load``) against a started ``Cluster`` and adds
rows of figures, from the client's records, the gateway's queue header and the fake
backend's own records (``cluster_stats``)."""

from __future__ import annotations

import asyncio
import sys
import time

import cluster_metrics as handoffs
from cluster_hosts import Cluster
from cluster_load import Load, TimedConn
from cluster_stats import gap_figures, gaps, pct, served
from procs import cpu_seconds

PARALLEL = 4  # the backend's slots (the fake's and the gateway's --parallel)
TOKEN = 0.01  # seconds a token
LONG, SHORT = 20, 5  # tokens of a busy tenant's call, of a quiet or probing one
BATCH_MAX_WAIT = 5
WEIGHTS = {"flood": 1, "quiet": 1, "even1": 1, "even2": 1, "heavy": 2, "light": 1}
WEIGHTS |= {"batch": 1, "inter": 1, "holder": 1, "waiter": 1, "solo": 1}


class Bench:
    """The scenarios against a started ``Cluster``; ``rows`` the table."""

    def __init__(self, cluster: Cluster, quick: bool) -> None:
        self.cluster = cluster
        self.ports = [h.port for h in cluster.hosts]
        self.n = 4 if quick else 20  # quiet calls, one a second
        self.secs = 5 if quick else 15  # seconds a kept-busy scenario lasts
        self.flood_streams = 12 if quick else 40
        self.busy_streams = 8 if quick else 20
        self.rows: list[tuple[str, str, str]] = []
        self.failed = 0

    def run(self, coros) -> tuple[Load, dict, float]:
        """Run the coroutines made by ``coros(load)``; the load, the backend's
        records and the wall-clock start."""
        load = Load(self.ports, self.cluster.keys)
        self.cluster.fake.events()  # clear what came before
        t0 = time.time()

        async def all_of():
            await asyncio.gather(*coros(load))

        asyncio.run(all_of())
        seen = self.cluster.fake.events()
        self.failed += sum(not c.ok for c in load.calls)
        bad = [c for c in load.calls if not c.ok]
        if bad:
            print(f"{len(bad)} failed calls, e.g. {bad[0]}", file=sys.stderr)
        if seen["peak"] > PARALLEL:
            self.rows.append(
                (
                    "calls at once on the backend (cap)",
                    str(seen["peak"]),
                    f"<= {PARALLEL}",
                )
            )
        return load, seen, t0

    def row(self, figure: str, value: str, goal: str = "") -> None:
        self.rows.append((figure, value, goal))
        print(f"{figure}: {value} {goal}", file=sys.stderr, flush=True)

    def solo(self) -> None:
        """0: calls that need no queue (a slot free), one at a time, hosts in turn."""
        pids = [p for h in self.cluster.hosts for p in h.pids()]
        cpu = cpu_seconds(pids)
        count = 20 if self.n < 10 else 200  # a kept-alive connection to each host

        async def in_turn(ld: Load) -> None:
            conns = [await TimedConn.open("127.0.0.1", port) for port in self.ports]
            for i in range(count):
                await ld.one(conns[i % 2], "solo", i % 2, 1, False)
            for conn in conns:
                conn.close()

        load, seen, _ = self.run(lambda ld: [in_turn(ld)])
        calls = load.of("solo")
        arrived = {tag: at for tag, at, _began, _ended in seen["events"]}
        forward = [(arrived[c.tag] - c.sent) * 1000 for c in calls if c.tag in arrived]
        cpu_ms = (cpu_seconds(pids) - cpu) * 1000 / max(1, len(calls))
        first = [c.ttft * 1000 for c in calls]
        self.row(
            "0. a call with a slot free (1 token, one at a time): first token "
            "p50 / p99, gateway CPU a call",
            f"{pct(first, 50):.1f} / {pct(first, 99):.1f} ms, {cpu_ms:.1f} ms",
        )
        self.row(
            "0. the same calls from sent to their request on the backend "
            "(forwarding) p50 / p99",
            f"{pct(forward, 50):.1f} / {pct(forward, 99):.1f} ms",
        )

    def quiet(self) -> float:
        """1: the quiet tenant's first token alone and beside a flood."""
        alone, _, _ = self.run(lambda ld: [ld.paced("quiet", self.n, 1.0, SHORT)])
        base = [c.ttft * 1000 for c in alone.of("quiet")]
        secs = self.n + 5
        load, _, _ = self.run(
            lambda ld: (
                ld.flood("flood", self.flood_streams, secs, LONG)
                + [ld.paced("quiet", self.n, 1.0, SHORT, delay=3)]
            )
        )
        mixed = [c.ttft * 1000 for c in load.of("quiet")]
        floods = sum(c.ok for c in load.of("flood"))
        waits = [c.queue_ms or 0.0 for c in load.of("quiet")]
        self.row(
            "1. quiet tenant alone: first token p50 / p95",
            f"{pct(base, 50):.0f} / {pct(base, 95):.0f} ms",
        )
        self.row(
            f"1. quiet tenant beside {self.flood_streams} flood streams: first token "
            "p50 / p95",
            f"{pct(mixed, 50):.0f} / {pct(mixed, 95):.0f} ms",
        )
        self.row(
            "1. quiet p95 beside the flood / alone",
            f"{pct(mixed, 95) / pct(base, 95):.2f}x",
            "<= 1.5x",
        )
        self.row(
            f"1. the flood's calls answered in {secs} s (what a headroom costs it)",
            str(floods),
        )
        self.row(
            "1. quiet tenant's queue wait (gateway header) p50 / p95",
            f"{pct(waits, 50):.0f} / {pct(waits, 95):.0f} ms",
        )
        return pct(base, 95)

    def shares(self, a: str, b: str, goal: str) -> None:
        """2: two tenants kept busy over both hosts: calls each began."""
        _, seen, t0 = self.run(
            lambda ld: (
                ld.flood(a, self.busy_streams, self.secs, LONG)
                + ld.flood(b, self.busy_streams, self.secs, LONG)
            )
        )
        got = served(seen["events"], t0 + 2, t0 + self.secs - 0.5)  # both busy
        na, nb = got.get(a, 0), got.get(b, 0)
        ratio = na / nb if nb else float("inf")
        weights = f"{WEIGHTS[a]}:{WEIGHTS[b]}"
        self.row(
            f"2. weights {weights}: calls begun {a} / {b} (ratio)",
            f"{na} / {nb} ({ratio:.2f})",
            goal,
        )

    def bands(self, alone_p95: float) -> None:
        """3: batch behind interactive, and batch's bound."""
        secs = self.n + 5
        load, _, _ = self.run(
            lambda ld: (
                ld.flood("batch", self.flood_streams, secs, LONG, batch=True)
                + [ld.paced("inter", self.n, 1.0, SHORT, delay=3)]
            )
        )
        inter = [c.ttft * 1000 for c in load.of("inter")]
        self.row(
            f"3. interactive beside {self.flood_streams} batch streams: first token "
            "p50 / p95",
            f"{pct(inter, 50):.0f} / {pct(inter, 95):.0f} ms "
            f"({pct(inter, 95) / alone_p95:.2f}x alone)",
        )
        load, seen, t0 = self.run(
            lambda ld: (
                ld.flood("inter", 2 * PARALLEL, self.secs, LONG)
                + ld.flood("batch", 2 * PARALLEL, self.secs, LONG, batch=True)
            )
        )
        got = served(seen["events"], t0, t0 + self.secs)
        waits = [c.queue_ms or 0.0 for c in load.of("batch") if c.ok]
        self.row(
            "3. both kept busy: calls begun interactive / batch",
            f"{got.get('inter', 0)} / {got.get('batch', 0)}",
            "batch > 0",
        )
        self.row(
            "3. batch's queue wait p50 / max",
            f"{pct(waits, 50) / 1000:.1f} / {max(waits, default=0) / 1000:.1f} s",
            f"aged at {BATCH_MAX_WAIT} s",
        )

    def slot_to_grant(self) -> None:
        """4: from a slot freed on the backend to the next waiting call on it; and
        the gateway's own hand-off histogram over the scenario (both hosts)."""
        before = [handoffs.read(p) for p in self.ports]
        load, seen, _ = self.run(
            lambda ld: (
                ld.flood(
                    "holder", PARALLEL // 2, self.secs, SHORT, think=0.2, hosts=(0,)
                )
                + ld.flood("waiter", 2 * PARALLEL, self.secs, SHORT, hosts=(1,))
            )
        )
        waited = {c.tag for c in load.calls if c.queue_ms is not None}
        for name, f in gap_figures(gaps(seen["events"], PARALLEL, waited)).items():
            self.row(
                f"4. slot freed to next call on the backend, {name}: "
                "p50 / p95 / p99 / max (n)",
                f"{f['p50']:.1f} / {f['p95']:.1f} / {f['p99']:.1f} / "
                f"{f['max']:.1f} ms ({f['n']})",
                "p99 <= 5 ms" if name == "cross-host" else "",
            )
        got = handoffs.since(before, [handoffs.read(p) for p in self.ports])
        for label in ("other", "same"):
            self.row(
                f"4. hand-off on Redis' clock (gateway's histogram), {label} worker",
                handoffs.describe(handoffs.figures(got.get(label, {"buckets": {}}))),
                "p99 <= 5 ms" if label == "other" else "",
            )
        held = load.of("holder")
        self.row(
            "4. host A's tenant (2 streams, pauses 0.2 s): calls served / queue "
            "wait p95",
            f"{sum(c.ok for c in held)} / "
            f"{pct([c.queue_ms or 0.0 for c in held], 95):.0f} ms",
        )
