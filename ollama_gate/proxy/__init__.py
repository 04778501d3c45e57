"""The proxy: the Ollama and OpenAI surfaces, each call walking the pipeline of
stages (``stages.build_stages``) to an upstream Ollama server."""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import Flask, request

from .. import metrics, routing, scheduler
from ..call import Call
from ..extensions import csrf, limiter
from ..hosts import AllowedHosts
from ..keys import KeyCache
from ..pipeline import Pipeline
from ..recorder import Recorder
from ..upstream import Upstream
from .cors import Cors
from .stages import build_stages
from .views import bp


class Gate:
    """Per-app gateway state: the pipeline of stages, key cache, CORS and recorder."""

    def __init__(self, app: Flask):
        s = app.config["GATE"]
        self.settings = s
        self.fleet, self.checker = routing.fleet_of(app)
        self.sched = scheduler.make(app, self.fleet)
        self.checker.on_reload.append(self.sched.policies.reload)
        self.checker.after_checks.append(self.sched.warmer.tick)
        metrics.watch(self)  # backend health and queue gauges as they change
        self.key_cache = KeyCache(s["KEY_CACHE_SECONDS"])
        self.cors = Cors(s["CORS_ORIGINS"])
        self.hosts = AllowedHosts(s["ALLOWED_HOSTS"])  # for calls without a key
        self.recorder = Recorder(app, [])
        self.set_stages(build_stages(app, self))

    @property
    def upstream(self) -> Upstream:
        """The default backend's client (management calls; tests that need one)."""
        state = self.fleet.default()
        if state is None:
            raise RuntimeError("no backend is configured")
        return state.upstream

    def set_stages(self, stages: list) -> None:
        """Walk every call through ``stages`` from now on (at start; tests add some)."""
        self.pipeline = Pipeline(stages)
        self.recorder.hooks = self.pipeline.recorders

    def finish(self, call: Call) -> None:
        """End a call exactly once: release it now, record it in the background."""
        if call.finished:
            return
        call.finished = True
        self.pipeline.release(call)
        self.recorder.submit(call)


def init_app(app: Flask) -> None:
    """Register the proxy blueprint and its gateway state on ``app``."""
    app.extensions["ollama_gate"] = Gate(app)
    app.register_blueprint(bp)
    csrf.exempt(bp)  # API calls carry keys, never session cookies
    limiter.exempt(bp)  # the API's limits are per key, in the limits stage


def skip_app_hooks(app: Flask) -> None:
    """Keep the app-wide request hooks off API calls; call once every extension is in.

    Those hooks belong to the admin UI's extensions: CSRF, Flask-Limiter's per-route
    limits and headers (the API's limits are per key, in ``limits/``), Flask-Login's
    remember cookie. An API call carries a key, never a session, so none of them
    applies, and together they were about 6% of a whole call (bench/PROFILE.md).
    The proxy blueprint's own hooks (CORS) still run.
    """

    def unless_proxy(hook: Callable, passes_response: bool) -> Callable:
        @functools.wraps(hook)
        def hook_unless_proxy(*args):
            if request.blueprint == "proxy":
                return args[0] if passes_response else None
            return hook(*args)

        return hook_unless_proxy

    for funcs, passes_response in (
        (app.before_request_funcs, False),
        (app.after_request_funcs, True),
        (app.teardown_request_funcs, False),
    ):
        if None in funcs:
            funcs[None] = [unless_proxy(h, passes_response) for h in funcs[None]]
