"""Cold model loads for the fake Ollama, as Ollama's scheduler makes them.

Ollama loads a model on the first call that needs it and sends nothing (no status,
no headers) until the load is over. The load runs under the calling request's
context: when that client hangs up before the load ends, ``WaitUntilRunning`` logs
"client connection closed before llama-server finished loading, aborting load",
the half-loaded runner is expired and the model stays unloaded, so the next call
loads it again from the start (ollama/ollama ``llm/llama_server.go``,
``server/sched.go``). While it loads, the runner is already in the scheduler's
table, so ``/api/ps`` lists the model; other calls for it wait for the same load.

Controls and observations on ``FakeOllama`` (reset by ``reset()``):

* ``load_delay``       seconds a model not in ``loaded`` takes to load before the
                       first byte of a generation call (0: every model loads at once,
                       the fake's old behaviour).
* ``loads_started`` / ``loads_completed`` / ``loads_aborted``: counts of loads.
* ``loading``          model name -> Event set when its load ends (either way).

A completed load's real duration is reported in that call's ``load_duration``.
"""

from __future__ import annotations

import threading
import time

# the calls that make Ollama load their model
LOADING_PATHS = frozenset(
    {
        "/api/generate",
        "/api/chat",
        "/api/embed",
        "/api/embeddings",
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/responses",
        "/v1/messages",
    }
)
WAIT_LIMIT = 300.0  # seconds a call waits for another call's load of its model

_this = threading.local()  # the load the current request thread made, in ns


def defaults(fake) -> None:
    """Set the load controls and counters to their defaults (under ``fake._lock``)."""
    fake.load_delay = 0.0
    fake.loads_started = 0
    fake.loads_completed = 0
    fake.loads_aborted = 0
    fake.loading = {}


def before_route(handler, parsed) -> None:
    """Load the call's model first if it is not loaded; raise as ``_sleep`` does
    (the handler's disconnect) when the client leaves, leaving it unloaded."""
    _this.ns = None
    fake = handler.fake
    if (
        not fake.load_delay
        or handler.command != "POST"
        or handler.route_path not in LOADING_PATHS
        or not isinstance(parsed, dict)
        or not isinstance(parsed.get("model"), str)
    ):
        return
    found = fake.find_model(parsed["model"])
    if found is None:
        return  # the handler answers 404
    name = found["name"]
    while True:
        with fake._lock:
            event = fake.loading.get(name)
            if event is None:
                if name in fake.loaded:
                    return  # warm
                event = fake.loading[name] = threading.Event()
                fake.loaded.insert(0, name)  # in the table while loading (/api/ps)
                fake.loads_started += 1
                mine = True
            else:
                mine = False
        if not mine:  # another call loads it: wait, then look again
            handler._wait_event(event, WAIT_LIMIT)
            continue
        _load(handler, fake, name, event)
        return


def _load(handler, fake, name: str, event: threading.Event) -> None:
    """Take ``load_delay`` watching the client; abort the load if it leaves."""
    began = time.monotonic()
    try:
        handler._sleep(fake.load_delay)
    except BaseException:
        with fake._lock:
            fake.loads_aborted += 1
            fake.loaded[:] = [x for x in fake.loaded if x != name]
            fake.loading.pop(name, None)
        event.set()
        raise
    with fake._lock:
        fake.loads_completed += 1
        fake.loading.pop(name, None)
    event.set()
    _this.ns = int((time.monotonic() - began) * 1e9)


def install(handler_class) -> None:
    """Report a call's own load in its final ``load_duration`` (and total)."""
    plain = handler_class.__dict__.get("_metrics")
    if plain is None:
        return
    metrics = plain.__func__ if isinstance(plain, staticmethod) else plain

    def with_load(*args, **kwargs):
        out = metrics(*args, **kwargs)
        ns = getattr(_this, "ns", None)
        if ns:
            out["total_duration"] += ns - out["load_duration"]
            out["load_duration"] = ns
        return out

    handler_class._metrics = staticmethod(with_load)
