"""A fake GPU for ``fake_ollama.FakeOllama``: what Ollama's runner costs in time.

* **Slots with a prompt cache each**: a loaded model has ``parallel`` slots; a call
  takes the free slot whose last prompt shares the longest start with its own (as
  Ollama's runner does) and prefills only the rest, ``prefill_ms`` per token (a
  token is 4 characters of the rendered prompt). Its answer reports
  ``prompt_eval_count`` (tokens prefilled) and ``prompt_eval_duration`` as Ollama
  does with a cache hit.
* **Room for** ``room`` **models**: a call of a model not loaded waits for a place,
  or for a loaded model with no call running (the least recently used is evicted),
  then pays ``swap_cost`` seconds; ``loads`` and ``swaps`` count them.

Use: ``fake.gpu = FakeGPU(room=1, swap_cost=0.5)``; ``fake.reset()`` removes it.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections import Counter, OrderedDict

PATHS = ("/api/chat", "/api/generate", "/v1/chat/completions", "/v1/completions")
CHARS_PER_TOKEN = 4


def _name(model: str) -> str:
    return model if ":" in model.rsplit("/", 1)[-1] else f"{model}:latest"


def render(req: dict) -> str:
    """The prompt a chat template would make of ``req`` (roles and contents)."""
    out = []
    if req.get("tools"):
        out.append(json.dumps(req["tools"], sort_keys=True))
    messages = req.get("messages")
    if isinstance(messages, list):
        for m in messages:
            if isinstance(m, dict):
                out.append(f"<|{m.get('role')}|>{m.get('content') or ''}")
    else:
        out.append(f"<|system|>{req.get('system') or ''}")
        out.append(f"<|user|>{req.get('prompt') or ''}")
    return "".join(out)


class FakeGPU:
    """Slots with prompt caches, and room for a few loaded models."""

    def __init__(self, room=None, parallel=1, prefill_ms=0.05, swap_cost=0.0):
        self.room = room  # models loaded at once; None: any number
        self.parallel = parallel  # slots per loaded model
        self.prefill_ms = prefill_ms  # milliseconds per uncached prompt token
        self.swap_cost = swap_cost  # seconds to load a model
        self.loaded: OrderedDict[str, list[dict]] = OrderedDict()  # model -> slots
        self.loading: set[str] = set()
        self.busy: Counter = Counter()  # model -> calls holding or loading it
        self.loads = self.swaps = 0
        self.prefilled = self.cached = 0  # prompt tokens read, and found cached
        self.started: list[str] = []  # the model of each call, as it began
        self.cond = threading.Condition()

    @staticmethod
    def serves(method: str, path: str, req) -> bool:
        """True for a prompt call this GPU runs."""
        return (
            method == "POST"
            and path in PATHS
            and isinstance(req, dict)
            and isinstance(req.get("model"), str)
        )

    @contextlib.contextmanager
    def serve(self, req: dict, fake=None):
        """Run one call: its model loaded, a slot taken, its prompt prefilled;
        yields the metrics its answer reports."""
        model = _name(req["model"])
        self._load(model, fake)
        text = render(req)
        with self.cond:
            while not any(not s["busy"] for s in self.loaded[model]):
                self.cond.wait()
            free = [s for s in self.loaded[model] if not s["busy"]]
            slot = max(
                free, key=lambda s: len(os.path.commonprefix([s["cache"], text]))
            )
            common = len(os.path.commonprefix([slot["cache"], text]))
            slot["busy"] = True
            self.started.append(model)
        tokens = len(text) // CHARS_PER_TOKEN
        hit = min(common // CHARS_PER_TOKEN, tokens)
        todo = max(tokens - hit, 1 if tokens else 0)
        seconds = todo * self.prefill_ms / 1000
        time.sleep(seconds)
        with self.cond:
            self.prefilled += todo
            self.cached += hit
        try:
            yield {
                "prompt_eval_count": todo,
                "prompt_eval_duration": int(seconds * 1e9) or 1,
            }
        finally:
            with self.cond:
                slot["cache"], slot["busy"] = text, False
                self.busy[model] -= 1
                self.loaded.move_to_end(model)
                self.cond.notify_all()

    def _load(self, model: str, fake) -> None:
        """Hold ``model`` loaded for a call: load it (evicting one) if need be."""
        with self.cond:
            while True:
                if model in self.loaded and model not in self.loading:
                    self.busy[model] += 1
                    return
                if model in self.loading:
                    self.cond.wait()
                    continue
                if self.room is None or len(self.loaded) < self.room:
                    break
                idle = [m for m in self.loaded if not self.busy[m]]
                if idle:
                    del self.loaded[idle[0]]
                    self.swaps += 1
                    if fake is not None:  # /api/ps stops showing it
                        with fake._lock:
                            fake.loaded[:] = [
                                x for x in fake.loaded if _name(x) != idle[0]
                            ]
                    break
                self.cond.wait()
            self.loads += 1
            self.loaded[model] = [
                {"cache": "", "busy": False} for _ in range(self.parallel)
            ]
            self.loading.add(model)
            self.busy[model] += 1
        time.sleep(self.swap_cost)
        with self.cond:
            self.loading.discard(model)
            self.cond.notify_all()
