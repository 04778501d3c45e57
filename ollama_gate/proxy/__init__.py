"""The proxy: the Ollama and OpenAI surfaces, forwarded to the upstream Ollama
server."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from flask import Flask, request
from sqlalchemy import bindparam, update

from ..config import first_backend
from ..extensions import db
from ..keys import KeyCache
from ..models import ApiKey
from ..recorder import Recorder
from ..call import Call
from .cors import Cors
from .summary import summarise
from .upstream import Upstream
from .views import bp

log = logging.getLogger("ollama_gate.proxy")


class Gate:
    """Per-app gateway state: the upstream, key cache, CORS, recorder and extension
    hooks.

    Later steps plug in here rather than into the views: ``admission_checks`` run before
    the upstream is called (raise ``ApiError`` to refuse), ``release_hooks`` run as soon
    as a call ends (free a concurrency slot), and recorder hooks run in the background.
    """

    def __init__(self, app: Flask):
        s = app.config["GATE"]
        self.settings = s
        self.upstream = Upstream(
            first_backend(s["BACKENDS"]),
            s["CONNECT_TIMEOUT"],
            s["READ_TIMEOUT"],
            s["POOL_SIZE"],
        )
        self.key_cache = KeyCache(s["KEY_CACHE_SECONDS"])
        self.cors = Cors(s["CORS_ORIGINS"])
        self.recorder = Recorder(app)
        self.admission_checks: list[Callable[[Call], None]] = []
        self.release_hooks: list[Callable[[Call], None]] = []
        # fn(call, body) -> body, applied to whole (non-stream) answers, e.g. to cut
        # model lists to a key's allowlist; a view that builds a list itself must apply
        # them too
        self.response_filters: list[Callable[[Call, bytes], bytes]] = []
        self.recorder.add_hook(summarise_calls)
        self.recorder.add_hook(touch_keys)

    def finish(self, call: Call) -> None:
        """End a call exactly once: release its slots now, record it in the
        background."""
        if call.finished:
            return
        call.finished = True
        for hook in self.release_hooks:
            try:
                hook(call)
            except Exception:  # e.g. Redis gone: the answer and its record must survive
                log.exception("release hook %r failed", hook)
        self.recorder.submit(call)


def summarise_calls(calls: list[Call]) -> None:
    """Recorder hook: read each answer's text and statistics once, for the hooks
    after."""
    for call in calls:
        try:
            summarise(call)
        except Exception:  # an answer of odd shape: the rest of the batch still counts
            log.warning(
                "could not summarise the answer of %s", call.path, exc_info=True
            )


def touch_keys(calls: list[Call]) -> None:
    """Recorder hook: update each used key's ``last_used_at`` once per batch."""
    last: dict[int, object] = {}
    for call in calls:
        last[call.identity.key_id] = call.started_at
    if not last:
        return
    table = ApiKey.__table__  # Core executemany: one statement for the whole batch
    db.session.execute(
        update(table)
        .where(table.c.id == bindparam("key_id"))
        .values(last_used_at=bindparam("when")),
        [{"key_id": key_id, "when": when} for key_id, when in last.items()],
    )
    db.session.commit()


def init_app(app: Flask) -> None:
    """Register the proxy blueprint and its gateway state on ``app``."""
    gate = Gate(app)
    app.extensions["ollama_gate"] = gate
    app.register_blueprint(bp)


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
