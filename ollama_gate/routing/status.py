"""What the backends page and ``backends list`` show of each backend."""

from __future__ import annotations

from flask import Flask


def fleet_status(app: Flask, check: bool = False) -> list[dict]:
    """One row per backend: state, settings, models, loaded models, in flight, error.

    ``check`` asks every backend now (the CLI, which has no background loop).
    """
    gate = app.extensions["ollama_gate"]
    fleet, checker = gate.fleet, gate.checker
    if check:
        checker.check_due(force=True)
    else:
        checker.ensure_fresh()
    routing = next(s for s in gate.pipeline.stages if s.name == "routing")
    rows = []
    for b in fleet.backends():
        c = b.config
        state = (
            "disabled"
            if not c.enabled
            else {True: "up", False: "down", None: "unchecked"}[b.healthy]
        )
        rows.append(
            {
                "name": c.name,
                "url": c.url,
                "state": state,
                "source": c.source,
                "shadows": c.shadows,
                "weight": c.weight,
                "parallel": c.parallel,
                "max_loaded": c.max_loaded,
                "token": "set" if c.token else "none",
                "version": b.version,
                "models": sorted(t.get("name") or n for n, t in b.models.items()),
                "loaded": sorted(t.get("name") or n for n, t in b.loaded.items()),
                "in_flight": routing.slots.in_flight(c.name),
                "running": {
                    t.get("name") or n: count
                    for n, t in b.models.items()
                    if (count := routing.scheduler.running(c.name, n))
                },
                "last_error": b.last_error,
            }
        )
    return rows


def queue_status(app: Flask) -> list[dict]:
    """The gateway's queue per model (every worker's with Redis, else this
    worker's): calls waiting now (in all and per band), and this worker's last
    waits' median and longest."""
    queue = app.extensions["ollama_gate"].sched.scheduler.queue
    waiting = queue.waiting()
    bands = queue.bands()
    rows = []
    for model in sorted(set(waiting) | set(queue.waited)):
        waits = sorted(queue.waited.get(model, ()))
        rows.append(
            {
                "model": model,
                "waiting": waiting.get(model, 0),
                "interactive": bands.get((model, 0), 0),
                "batch": bands.get((model, 1), 0),
                "waits": len(waits),
                "p50_ms": round(waits[len(waits) // 2] * 1000) if waits else None,
                "max_ms": round(waits[-1] * 1000) if waits else None,
            }
        )
    return rows
