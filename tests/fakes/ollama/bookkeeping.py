"""The fake's bookkeeping: loaded models, records, connections, slots and queue."""

from __future__ import annotations

import contextlib
import json
import threading
import time

from .data import (
    normalize_model_name,
)


class Bookkeeping:
    """FakeOllama's records and scheduling state (a mixin of FakeOllama)."""

    def _touch_loaded(self, name, keep_alive):
        with self._lock:
            self.loaded[:] = [x for x in self.loaded if x != name]
            if keep_alive in (0, "0", "0s"):
                return
            self.loaded.insert(0, name)

    # -------------------------------------------------------------- records

    def _record(self, rec):
        with self._lock:
            self.requests.append(rec)

    def _track(self, conn, add):
        with self._lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def _prompt_cache(self, req: dict) -> None:
        """Wait ``prompt_cache_delay`` for a conversation this server has not seen."""
        messages = req.get("messages")
        if not isinstance(messages, list) or not messages:
            return
        opening = json.dumps(messages[:1], sort_keys=True)  # the conversation
        with self._lock:
            cold = opening not in self.prompt_cache
            self.prompt_cache.add(opening)
        if cold:
            time.sleep(self.prompt_cache_delay)

    @contextlib.contextmanager
    def _scheduled(self, model: str):
        """Run one call of ``model`` within its slots (or say it cannot queue)."""
        key = normalize_model_name(model)
        with self._lock:
            slots = self.model_slots.setdefault(
                key, {"sem": threading.Semaphore(self.parallel), "waiting": 0}
            )
            if slots["waiting"] >= self.max_queue:
                admitted = False
            else:
                admitted = True
                slots["waiting"] += 1
        if not admitted:
            yield False
            return
        slots["sem"].acquire()
        with self._lock:
            slots["waiting"] -= 1
            self.running[key] = self.running.get(key, 0) + 1
            self.peak_running[key] = max(
                self.peak_running.get(key, 0), self.running[key]
            )
        try:
            yield True
        finally:
            with self._lock:
                self.running[key] -= 1
            slots["sem"].release()

    def _take_next_status(self):
        with self._lock:
            ns = self.next_status
            self.next_status = None
            return ns

    def _note_disconnect(self, epoch):
        with self._lock:
            if epoch != self.epoch:  # a stream from before the last reset
                return
            self.disconnect_count += 1
        self.disconnected.set()

    def _count(self, attr, epoch):
        """Count an event of a request that arrived since the last ``reset()``."""
        with self._lock:
            if epoch == self.epoch:
                setattr(self, attr, getattr(self, attr) + 1)

    def calls(self):
        """The requests other than a gateway's health checks (``GET`` of /api/tags,
        /api/ps, /api/version), which a live gateway of another test may make."""
        health = ("/api/tags", "/api/ps", "/api/version")
        with self._lock:
            return [
                r for r in self.requests if not (r.method == "GET" and r.path in health)
            ]

    def requests_to(self, path_prefix="", method=None):
        """Recorded requests whose raw path starts with ``path_prefix``."""
        with self._lock:
            return [
                r
                for r in self.requests
                if r["path"].startswith(path_prefix)
                and (method is None or r["method"] == method)
            ]

    @property
    def last_request(self):
        with self._lock:
            return self.requests[-1] if self.requests else None
