"""Model rooms shared by every worker of every host (Redis configured): the cluster
queue's take script keeps what each capped backend holds and the gateway's calls
running there (``cluster_rooms_lua``), so one worker does not start model B while
another's calls of the loaded model A wait.

This worker's part is what it alone sees: the backend's cap (``max_loaded``, or
learned from its own reads of ``/api/ps``, as ``rooms.Rooms`` learns it) and each new
read of ``/api/ps``, handed to the next take on that backend (no round trip of its
own).
"""

from __future__ import annotations

import time

from .rooms import Rooms


class SharedRooms(Rooms):
    """``rooms.Rooms``' caps; the rooms themselves live in Redis."""

    def room_args(self, state) -> list:
        """The take script's room arguments for a call on ``state``: the backend and
        its cap, and its ``/api/ps`` when this worker read it anew since its last
        take there (when, on the wall clock, and the models it showed)."""
        with self._lock:
            fresh = self.seen.get(state.name) != state.checked_at
            loaded = dict(state.loaded)
            if fresh:
                self.seen[state.name] = state.checked_at
                self._learn(state.name, loaded)
            cap = self.cap(state)
        if not cap:
            return ["", 0, ""]
        if not fresh:
            return [state.name, cap, ""]
        read_at = time.time() - max(0.0, time.monotonic() - state.checked_at)
        return [state.name, cap, read_at, *loaded]

    def fits(self, state, model: str) -> bool:
        """The take script decides (``FairQueue`` alone asks this)."""
        return True

    def enter(self, state, model: str) -> bool:
        """Counted by the take script (and, at the call's end, its give)."""
        return True

    def leave(self, state, model: str) -> None:
        """Counted by the give script."""
