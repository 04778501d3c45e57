"""The fleet's gauges: each backend's health as the health loop sees it, and the
scheduler's queue (calls waiting, how long they waited), parsed from /metrics."""

from __future__ import annotations

import threading
import time

from prometheus_client.parser import text_string_to_metric_families

from ollama_gate.routing.manage import set_backend
from ollama_gate.routing.status import queue_status
from tests.helpers.admin import login, make_admin
from tests.helpers.keys import add_key
from tests.routing.test_routing import make_fleet_app


def scrape(app) -> dict[tuple, float]:
    text = app.test_client().get("/metrics").get_data(as_text=True)
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_each_backends_health_is_a_gauge(tmp_path, pool):
    gpu1, gpu2, _ = pool
    app = make_fleet_app(
        tmp_path, pool[:2], BACKENDS=[f"mgpu1={gpu1.url}", f"mgpu2={gpu2.url}"]
    )
    gate = app.extensions["ollama_gate"]
    gate.checker.check_due(force=True)
    up = scrape(app)
    assert up[("ollama_gate_backend_up", (("backend", "mgpu1"),))] == 1
    assert up[("ollama_gate_backend_up", (("backend", "mgpu2"),))] == 1
    gpu2.stop()
    gate.checker.check_due(force=True)
    down = scrape(app)
    assert down[("ollama_gate_backend_up", (("backend", "mgpu1"),))] == 1
    assert down[("ollama_gate_backend_up", (("backend", "mgpu2"),))] == 0


def test_the_queue_is_a_gauge_and_its_waits_a_histogram(tmp_path, pool):
    gpu1 = pool[0]
    app = make_fleet_app(tmp_path, pool[:1], BACKENDS=[f"qgpu1={gpu1.url}"])
    with app.app_context():
        set_backend(app.config["GATE"], "qgpu1", parallel=1)
    app.extensions["ollama_gate"].checker.check_due(force=True)
    key = add_key(app)
    waiting = ("ollama_gate_queue_waiting", (("model", "llama3.2:latest"),))
    waits = ("ollama_gate_queue_wait_seconds_count", ())
    before = scrape(app).get(waits, 0)
    gpu1.hold_second_chunk = True

    def generate(prompt):
        app.test_client().post(
            "/api/generate",
            json={"model": "llama3.2", "prompt": prompt},
            headers={"Authorization": f"Bearer {key}"},
        ).get_data()

    threads = [threading.Thread(target=generate, args=("held",))]
    threads[0].start()
    assert gpu1.first_chunk_sent.wait(10)
    threads.append(threading.Thread(target=generate, args=("waits",)))
    threads[1].start()
    deadline = time.monotonic() + 10
    while scrape(app).get(waiting) != 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert scrape(app)[waiting] == 1
    gpu1.release.set()
    for t in threads:
        t.join(10)
    after = scrape(app)
    assert after[waiting] == 0
    assert after[waits] == before + 1
    with app.app_context():  # the backends page's queue table, per model
        (row,) = queue_status(app)
    assert (row["model"], row["waiting"], row["waits"]) == ("llama3.2:latest", 0, 1)
    assert row["p50_ms"] == row["max_ms"] and row["max_ms"] >= 0
    make_admin(app)
    client = app.test_client()
    login(client)
    page = client.get("/admin/backends").get_data(as_text=True)
    assert f"{row['p50_ms']} ms" in page
