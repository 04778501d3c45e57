"""Conversation affinity: the next turn of a conversation goes to the backend that
served its last one, so Ollama's prompt cache (kept per server) is reused.

A conversation is named by an explicit ``X-Ollama-Gate-Session`` header, or the one
an app key's call names (Open WebUI's ``X-OpenWebUI-Chat-Id``), or else by the key,
the model and its messages up to the first user message, which every later turn
repeats. New conversations have no entry and spread as any call does.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict

from ..call import Call
from ..gofields import go_field

SESSION_HEADER = "X-Ollama-Gate-Session"
CHATS = ("/api/chat", "/v1/chat/completions")
MAX_ENTRIES = 20_000  # per worker, the least recently used go first


def conversation(call: Call, session: str | None) -> str | None:
    """The conversation's name, or None for a call that has none."""
    if session:
        basis = ["session", call.identity.key_id, session[:200]]
    elif call.endpoint in CHATS and isinstance(call.payload, dict):
        messages = go_field(call.payload, "messages")
        if not isinstance(messages, list) or not messages:
            return None
        first_user = next(
            (
                i
                for i, m in enumerate(messages)
                if isinstance(m, dict) and go_field(m, "role") == "user"
            ),
            None,
        )
        if first_user is None:
            return None
        model = call.upstream_model or call.model
        basis = ["chat", call.identity.key_id, model, messages[: first_user + 1]]
    else:
        return None
    text = json.dumps(basis, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class MemoryAffinity:
    """Conversation -> backend, in this worker (least recently used evicted)."""

    def __init__(self, ttl: float):
        self.ttl = ttl
        self._map: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, name: str) -> str | None:
        """The backend of the conversation's last turn, if recent."""
        with self._lock:
            entry = self._map.get(name)
            if entry is None or entry[1] < time.monotonic():
                return None
            self._map.move_to_end(name)
            return entry[0]

    def put(self, name: str, backend: str) -> None:
        """Remember the backend of this turn."""
        with self._lock:
            self._map[name] = (backend, time.monotonic() + self.ttl)
            self._map.move_to_end(name)
            while len(self._map) > MAX_ENTRIES:
                self._map.popitem(last=False)


class RedisAffinity:
    """Conversation -> backend in Redis: every worker and host sees the same."""

    def __init__(self, client, prefix: str, ttl: float):
        self.client, self.prefix, self.ttl = client, prefix, max(1, int(ttl))

    def get(self, name: str) -> str | None:
        """The backend of the conversation's last turn, if recent."""
        value = self.client.get(f"{self.prefix}:affinity:{name}")
        return value.decode() if value else None

    def put(self, name: str, backend: str) -> None:
        """Remember the backend of this turn."""
        self.client.set(f"{self.prefix}:affinity:{name}", backend, ex=self.ttl)
