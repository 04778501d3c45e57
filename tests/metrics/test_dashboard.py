"""The Grafana dashboard (deploy/grafana-dashboard.json) asks only for metrics and
labels the gateway's ``/metrics`` has."""

from __future__ import annotations

import json
import re

from prometheus_client.parser import text_string_to_metric_families

from tests.helpers.paths import ROOT

DASHBOARD = json.loads((ROOT / "deploy" / "grafana-dashboard.json").read_text())


def exprs() -> list[str]:
    return [t["expr"] for p in DASHBOARD["panels"] for t in p["targets"]]


def exposed(app, key) -> dict[str, set[str]]:
    """Every sample name of ``/metrics`` after a few calls, with its label names."""
    client = app.test_client()
    auth = {"Authorization": f"Bearer {key}"}
    chat = {"model": "llama3.2", "messages": [{"role": "user", "content": "Hi"}]}
    client.post("/api/chat", json={**chat, "stream": False}, headers=auth)
    client.get("/api/tags")  # refused: no key
    app.extensions["ollama_gate"].recorder.flush()
    text = client.get("/metrics").get_data(as_text=True)
    names: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            names.setdefault(sample.name, set()).update(sample.labels)
    return names


def test_every_query_names_a_metric_and_labels_it_has(app, key, fake):
    names = exposed(app, key)
    names["ollama_gate_upstream_errors_total"] = {"backend", "status"}  # none yet
    names["ollama_gate_queue_waiting"] = {"model"}  # no call has waited here
    names["ollama_gate_backend_up"] = {"backend"}  # set by the health loop
    assert len(exprs()) >= 15
    for expr in exprs():
        metrics = re.findall(r"\bollama_gate_\w+", expr)
        assert metrics, expr
        for metric in metrics:
            assert metric in names, (metric, expr)
            used = set(re.findall(r"(\w+)\s*(?:=|!=|=~)\s*\"", expr))
            for group in re.findall(r"by \(([^)]*)\)", expr):
                used |= {label.strip() for label in group.split(",")}
            assert used <= names[metric] | {"le"}, (used, metric, expr)


def test_it_imports_with_a_chosen_prometheus():
    (source,) = DASHBOARD["__inputs"]
    assert source["pluginId"] == "prometheus"
    uid = "${" + source["name"] + "}"
    for panel in DASHBOARD["panels"]:
        assert panel["datasource"]["uid"] == uid
    assert len({p["id"] for p in DASHBOARD["panels"]}) == len(DASHBOARD["panels"])
