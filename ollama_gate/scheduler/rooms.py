"""Model rooms: a backend that holds only N models loaded at once swaps one out for a
call of another, and a swap costs seconds to minutes. So calls of a model it holds
go first, and a call of another model starts only when the room has a place, or a
model it holds has no call running (then that one, the least recently used, goes).

N is the backend's ``max_loaded`` (``backends set NAME --max-loaded N``), else what
``/api/ps`` showed: a model gone from it long before its ``expires_at`` while
another came in was evicted, so the backend holds no more than it then showed. A
backend with neither has no room to keep: its calls run as they come.

The queue (``queue.FairQueue``) orders the waiting calls with ``fits``; ``enter`` and
``leave`` count the gateway's calls of each model on each backend (in this worker;
with Redis, ``cluster_rooms.SharedRooms`` and the cluster queue's scripts keep them
for every worker).
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from datetime import UTC, datetime

EVICTED_BEFORE = 60.0  # seconds left before expiry: a model gone sooner was evicted


def _expiry(entry: dict) -> datetime | None:
    text = entry.get("expires_at") if isinstance(entry, dict) else None
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


class Rooms:
    """The models each capped backend holds, and the gateway's calls running there."""

    def __init__(self):
        self.held: dict[str, OrderedDict[str, None]] = {}  # backend -> models, LRU
        self.running: Counter = Counter()  # (backend, model) -> calls running
        self.learned: dict[str, int] = {}  # backend -> models seen held at most
        self.swaps: Counter = Counter()  # backend -> swaps the gateway started
        self.seen: dict[str, float] = {}  # backend -> checked_at of the last sync
        self._ps: dict[str, dict] = {}  # backend -> its last /api/ps, by model
        self._lock = threading.Lock()

    def cap(self, state) -> int | None:
        """How many models ``state`` holds at once, if known."""
        return state.config.max_loaded or self.learned.get(state.name)

    def capped(self, states: list) -> tuple:
        """``states`` when each has a cap (the queue then orders by swaps), else ()."""
        return tuple(states) if states and all(self.cap(s) for s in states) else ()

    def fits(self, state, model: str) -> bool:
        """True when a call of ``model`` runs on ``state`` without a swap."""
        with self._lock:
            held = self._sync(state)  # first: it may learn the cap
            cap = self.cap(state)
            return not cap or model in held or len(held) < cap

    def enter(self, state, model: str) -> bool:
        """Count a call of ``model`` on ``state`` if it may start now: its model is
        held, or there is a place, or a held model is idle (it is swapped out)."""
        with self._lock:
            held = self._sync(state)
            cap = self.cap(state)
            if cap and model not in held and len(held) >= cap:
                idle = [m for m in held if not self.running[(state.name, m)]]
                if not idle:
                    return False
                del held[idle[0]]  # the least recently used of the idle ones
                self.swaps[state.name] += 1
            held[model] = None
            held.move_to_end(model)
            self.running[(state.name, model)] += 1
            return True

    def leave(self, state, model: str) -> None:
        """A call counted by ``enter`` ended."""
        with self._lock:
            key = (state.name, model)
            self.running[key] -= 1
            if self.running[key] <= 0:
                del self.running[key]

    def _sync(self, state) -> OrderedDict[str, None]:
        """``state``'s held models, brought up to its last ``/api/ps`` (lock held):
        what Ollama unloaded goes unless a call of it runs, what it loaded comes in."""
        held = self.held.setdefault(state.name, OrderedDict())
        if self.seen.get(state.name) == state.checked_at:
            return held
        self.seen[state.name] = state.checked_at
        loaded = dict(state.loaded)
        self._learn(state.name, loaded)
        for m in list(held):
            if m not in loaded and not self.running[(state.name, m)]:
                del held[m]
        cap = self.cap(state)
        for m in loaded:  # loaded since the last look: recently used
            # ps may predate the gateway's own swap: it does not crowd the room
            if m not in held and (not cap or len(held) < cap):
                held[m] = None
        return held

    def _learn(self, backend: str, loaded: dict[str, dict]) -> None:
        """A model gone long before its expiry while another came in: evicted, so
        the backend holds no more than it shows now."""
        before, self._ps[backend] = self._ps.get(backend), loaded
        if not before or not loaded or not (set(loaded) - set(before)):
            return
        now = datetime.now(UTC)
        for m, entry in before.items():
            expiry = _expiry(entry)
            if m in loaded or expiry is None or expiry.year > 2200:
                continue
            if (expiry - now).total_seconds() > EVICTED_BEFORE:
                self.learned[backend] = len(loaded)
                return
