"""Health checks and model discovery: each backend's ``/api/tags``, ``/api/ps`` and
``/api/version``, every ``HEALTH_INTERVAL`` seconds, with backoff while it is down.

A check that fails marks the backend down until one succeeds; so does a call that
cannot connect (``mark_failed``). A call that finds every backend it could use down
checks them again at once (``Checker.revive``) rather than wait out the backoff: an
Ollama started after the gateway, or restarted, serves the next call. A backend is
only ever judged by its own answers: a client that hangs up, or a model that takes
minutes to load, says nothing of it.
"""

from __future__ import annotations

import json
import logging
import threading
import time

from flask import Flask

from ..errors import ApiError
from ..model_names import canonical
from ..upstream.headers import HOPS
from .backends import BackendState, tags_of
from .fanout import fan_out
from .fleet import Fleet

log = logging.getLogger("ollama_gate.routing")

BACKOFF_STEPS = 6  # a down backend is checked at most this many intervals apart
REFRESH_GAP = 2.0  # seconds between refreshes asked for by unknown model names
# seconds between two checks of one down backend asked for by calls: a flood of calls
# for it makes one check a second, not one each
REVIVE_GAP = 1.0


def get_json(state: BackendState, path: str, hops: int = 1):
    """The JSON answer of a probe ``GET`` (``hops``: the hop header it carries);
    ApiError or ValueError when it fails."""
    resp = state.probe.send("GET", path, {HOPS: str(hops)}, None)
    state.peer = HOPS in resp.headers  # a gateway answers with it
    body = state.probe.read_whole(resp)
    if resp.status_code != 200:
        raise ApiError(502, f"{path} answered {resp.status_code}")
    return json.loads(body)


def check(state: BackendState, interval: float) -> None:
    """Check one backend now and keep what it says; never raises."""
    now = time.monotonic()
    try:
        tags = get_json(state, "/api/tags")
        if not isinstance(tags, dict):
            raise ValueError("/api/tags is not a JSON object")
    except (ApiError, ValueError) as exc:
        mark_failed(state, str(exc), interval)
        return
    state.models = tags_of(tags)
    state.loaded = _loaded(state)
    state.version = _version(state) or state.version
    if state.healthy is not True:
        log.info(
            "backend %s (%s) answers: %d models",
            state.name,
            state.config.url,
            len(state.models),
        )
        state.up_since = now
    state.healthy, state.last_error, state.failures = True, None, 0
    state.checked_at, state.next_check = now, now + interval


def recheck(state: BackendState, interval: float) -> bool:
    """Check a down backend now, for a call; True when it answers. A failure keeps
    the backoff's own schedule (a call's look is not one of its rounds)."""
    failures, checked_at, next_check = (
        state.failures,
        state.checked_at,
        state.next_check,
    )
    check(state, interval)
    if state.healthy:
        return True
    state.failures, state.checked_at, state.next_check = (
        failures,
        checked_at,
        next_check,
    )
    return False


def mark_failed(state: BackendState, reason: str, interval: float) -> None:
    """A failed check or connection: skip the backend until a check passes."""
    now = time.monotonic()
    if state.healthy is None:  # the worker's first look: say what to check
        log.warning(
            "backend %s (%s) does not answer: %s; check OLLAMA_GATE_BACKENDS and "
            "that Ollama runs there",
            state.name,
            state.config.url,
            reason,
        )
    elif state.healthy:
        log.warning("backend %s (%s) is down: %s", state.name, state.config.url, reason)
    state.healthy, state.last_error = False, reason
    state.failures += 1
    wait = interval * min(2 ** (state.failures - 1), BACKOFF_STEPS)
    state.checked_at, state.next_check = now, now + wait


def _loaded(state: BackendState) -> dict[str, dict]:
    """The models ``/api/ps`` says are in memory (empty when it cannot say)."""
    loaded = read_loaded(state)
    return {} if loaded is None else loaded


def refresh_loaded(state: BackendState) -> None:
    """Read the backend's ``/api/ps`` again in the background (a call may have
    loaded a model, or made it unload another); one read at a time per backend."""
    if state.refreshing:
        return
    state.refreshing = True

    def run() -> None:
        try:
            loaded = read_loaded(state)
            if loaded is not None:
                state.loaded = loaded
        finally:
            state.refreshing = False

    threading.Thread(target=run, name="refresh-ps", daemon=True).start()


def read_loaded(state: BackendState) -> dict[str, dict] | None:
    """The models ``/api/ps`` says are in memory, or None when it cannot say."""
    try:
        ps = get_json(state, "/api/ps")
    except (ApiError, ValueError):
        return None
    models = ps.get("models") if isinstance(ps, dict) else None
    return {
        canonical(m.get("name") or m.get("model") or ""): m
        for m in models or []
        if isinstance(m, dict) and (m.get("name") or m.get("model"))
    }


def _version(state: BackendState) -> str | None:
    """The backend's ``/api/version``, or None."""
    try:
        version = get_json(state, "/api/version")
    except (ApiError, ValueError):
        return None
    value = version.get("version") if isinstance(version, dict) else None
    return value if isinstance(value, str) else None


class Checker:
    """Keeps one worker's fleet fresh: a background loop under gunicorn, or checks
    made on demand (the test client, the CLI)."""

    def __init__(self, app: Flask, fleet: Fleet):
        self.app = app
        self.fleet = fleet
        self.interval = app.config["GATE"]["HEALTH_INTERVAL"]
        self.running = False
        self.refreshed_at = 0.0
        self.revive_gap = REVIVE_GAP
        self.revived_at: dict[str, float] = {}  # backend name -> its last recheck
        # run with the configuration read again (in an app context): more tables
        self.on_reload: list = []
        # run after each round of checks (warm models)
        self.after_checks: list = []

    def check_due(self, force: bool = False) -> None:
        """Read the configuration again when due, then check each backend due."""
        now = time.monotonic()
        if force or now - self.fleet.loaded_at >= self.interval:
            self._reload()
        due = [
            b
            for b in self.fleet.backends()
            if force or b.healthy is None or b.next_check <= now
        ]
        fan_out(lambda b: check(b, self.interval), due)
        if due:
            for hook in self.after_checks:
                hook()

    def _reload(self) -> None:
        """Read the backends, aliases, routes and policies again."""
        with self.app.app_context():
            try:
                self.fleet.reload()
                for hook in self.on_reload:
                    hook()
            except Exception:  # the database away: keep the last configuration
                log.warning("could not read the backends' table", exc_info=True)

    def ensure_fresh(self) -> None:
        """Without the background loop, check now what is due (a call waits)."""
        if not self.running:
            self.check_due()

    def refresh_unknown(self) -> bool:
        """Check every backend now, for a model none is known to serve; at most
        once every ``REFRESH_GAP`` seconds, so unknown names cannot flood them."""
        now = time.monotonic()
        if now - self.refreshed_at < REFRESH_GAP:
            return False
        self.refreshed_at = now
        self.check_due(force=True)
        return True

    def revive(self, states: list[BackendState]) -> bool:
        """Check again now the enabled backends of ``states`` marked down, each at
        most once every ``revive_gap`` seconds (bounded by the probe's timeout);
        True when one of them answers."""
        now = time.monotonic()
        due = []
        for b in states:
            if b.config.enabled and b.healthy is False:
                if (
                    now - self.revived_at.get(b.name, -self.revive_gap)
                    >= self.revive_gap
                ):
                    self.revived_at[b.name] = now  # before the check: others skip it
                    due.append(b)
        if not due:
            return False
        log.info("rechecking %s for a call", ", ".join(b.name for b in due))
        fan_out(lambda b: recheck(b, self.interval), due)
        return any(b.healthy for b in due)

    def start(self) -> None:
        """Run the checks in the background from now on (one worker, one loop)."""
        if self.running:
            return
        self.running = True
        self._reload()  # the database's backends and policies serve the first call
        threading.Thread(target=self._loop, name="health", daemon=True).start()

    def _loop(self) -> None:
        tick = min(1.0, max(self.interval / 4, 0.05))
        while True:
            try:
                self.check_due()
            except Exception:
                log.exception("health check loop failed; continuing")
            time.sleep(tick)
