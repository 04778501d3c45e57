"""Cold loads: which calls load their model, what each backend has loaded after
them, and how long each load took (history and ``ollama_gate_model_load_seconds``).

A call is cold when its model is loaded on none of its candidates (as their
``/api/ps`` said) though one of them lists it. Ollama answers such a call only once
the model is in memory, and aborts the load if the call's client hangs up first;
``proxy.coldload`` keeps the upstream call for it, and this stage reads ``/api/ps``
again after each cold call so the next one is known to be warm.
"""

from __future__ import annotations

from ..call import Call
from ..limits.quotas import INFERENCE
from ..metrics.labels import model_name
from ..metrics.registry import MODEL_LOAD
from ..model_names import canonical
from ..pipeline import Stage
from .fleet import Fleet
from .health import refresh_loaded

# the calls that make Ollama load their model: those that run one (the quotas' own)
LOADING_PATHS = INFERENCE


def cold_model(call: Call, candidates: list, model: str | None) -> str | None:
    """The canonical model the call would load, or None when it is loaded on one of
    its candidates, or nothing is known of them yet (never checked)."""
    if call.method != "POST" or call.path not in LOADING_PATHS or not model:
        return None
    name = canonical(model)
    if any(name in b.loaded for b in candidates):
        return None
    if not any(b.checked_at and name in b.models for b in candidates):
        return None
    return name


class Loads(Stage):
    """After a cold call: the backend's loaded models read again; its load timed."""

    name = "loads"

    def __init__(self, fleet: Fleet):
        self.fleet = fleet

    def release(self, call: Call) -> None:
        """The model a cold call loaded counts as loaded at once; ``/api/ps`` says
        the rest in the background."""
        name = call.cold_model
        state = self.fleet.get(call.backend) if name and call.backend else None
        if state is None:
            return
        if call.status == 200 and call.head_wait is not None:
            state.loaded.setdefault(name, {"name": name, "model": name})
        refresh_loaded(state)

    def record(self, calls: list[Call]) -> None:
        """Each cold call's load time: Ollama's ``load_duration`` when its answer
        ended with one, else the wait for the answer's head (the client left)."""
        for call in calls:
            name = call.cold_model
            if not name or not call.backend:
                continue
            stats = call.stats
            ns = stats.get("load_duration")
            if not isinstance(ns, int):
                waited = call.head_wait
                if waited is None:
                    continue  # it never reached the backend
                ns = stats["load_duration"] = int(waited * 1e9)
            stats["cold_load"] = True
            MODEL_LOAD.labels(call.backend, model_name(name)).observe(ns / 1e9)
