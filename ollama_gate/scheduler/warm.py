"""Warm models: keep N copies of a model loaded across the backends that serve it.

After each round of health checks, a model with ``warm`` N that is loaded on fewer
than N backends gets a load-only request (Ollama's empty ``/api/generate``, or an
empty ``/api/embed`` for an embedding model) on the least busy backends that have it;
a copy about to expire is loaded again first. So a backend that comes back is warmed
again, and a model a team uses all day never pays its load time on a call.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from ..errors import ApiError
from ..model_names import canonical
from .policy import Policies

log = logging.getLogger("ollama_gate.scheduler")

DEFAULT_KEEP_ALIVE = "30m"  # a warm copy's keep_alive when its policy sets none
RESEND_GAP = 60.0  # seconds before the same copy is asked to load again


def expires_soon(entry: dict, within: float) -> bool:
    """True when a ``/api/ps`` entry's ``expires_at`` is less than ``within`` s away."""
    text = entry.get("expires_at")
    if not isinstance(text, str) or text.startswith("0001"):
        return False
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    if when.year > 2200:  # keep_alive -1: never expires
        return False
    return (when - datetime.now(UTC)).total_seconds() < within


class Warmer:
    """Sends the load-only requests that keep warm models loaded."""

    def __init__(self, fleet, policies: Policies, interval: float, claim=None):
        self.fleet = fleet
        self.policies = policies
        self.interval = interval
        self.sent: dict[tuple[str, str], float] = {}  # (backend, model) -> when
        self.claim = claim or (lambda key, ttl: True)  # one worker per load (Redis)
        self.loads_sent = 0

    def tick(self) -> None:
        """Load what is missing or about to expire; never raises."""
        for policy in list(self.policies.by_model.values()):
            if policy.warm > 0:
                try:
                    self.keep(policy)
                except Exception:
                    log.exception("warming %s failed", policy.model)

    def keep(self, policy) -> None:
        """Bring ``policy.model`` up to ``policy.warm`` loaded copies."""
        name = canonical(policy.model)
        serving = [b for b in self.fleet.serving(name) if b.healthy]
        loaded = [b for b in serving if name in b.loaded]
        soon = [b for b in loaded if expires_soon(b.loaded[name], 3 * self.interval)]
        missing = max(0, policy.warm - (len(loaded) - len(soon)))
        spare = [b for b in serving if name not in b.loaded]
        for state in (soon + spare)[:missing]:
            self.load(state, name, policy)

    def load(self, state, name: str, policy) -> None:
        """Ask ``state`` to load ``name`` (in the background: a load takes minutes)."""
        now = time.monotonic()
        sent = self.sent.get((state.name, name))
        if sent is not None and sent > state.up_since and now - sent < RESEND_GAP:
            return  # asked already since it came up; it is loading
        if not self.claim(f"warm:{state.name}:{name}", RESEND_GAP):
            return  # another worker asked
        self.sent[(state.name, name)] = now
        tag = state.models.get(name) or {}
        embedding = "embedding" in (
            tag.get("capabilities") or []
        ) and "completion" not in (tag.get("capabilities") or [])
        path, body = (
            ("/api/embed", {"model": tag.get("name") or name, "input": []})
            if embedding
            else ("/api/generate", {"model": tag.get("name") or name})
        )
        body["keep_alive"] = policy.keep_alive or DEFAULT_KEEP_ALIVE
        self.loads_sent += 1
        threading.Thread(
            target=self._send, args=(state, path, body), daemon=True
        ).start()

    @staticmethod
    def _send(state, path: str, body: dict) -> None:
        import json

        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        try:
            resp = state.upstream.send("POST", path, headers, data)
            state.upstream.read_whole(resp)
            log.info(
                "warmed %s on %s (%s)", body["model"], state.name, resp.status_code
            )
        except ApiError as exc:
            log.warning("could not warm %s on %s: %s", body["model"], state.name, exc)
        state.next_check = 0.0  # see it loaded at the next round
