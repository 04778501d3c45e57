"""The cache's stage: a hit answers without any upstream; a miss is stored after it.

``answer`` decides per call (the policy; never for a key whose history keeps no
answer text, ``metadata`` or ``off``, since the cache would keep it), builds the key
(canonical request, model digest, scope), and on a hit returns the replayed answer,
which the view finishes and records like an upstream's. ``record`` runs in the
recorder's background batches: it counts hits and misses and stores the answers of
misses (``call.body``, as kept for history). Every answer says what happened in
``X-Ollama-Gate-Cache``: hit, miss or bypass.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app

from ..call import Call
from ..extensions import db
from ..gofields import go_field
from ..history.record import call_mode
from ..pipeline import Stage
from .digest import model_digest
from .entry import capture, pack, unpack
from .keys import cache_key, scope_of
from .policy import bypass_reason
from .replay import JSON_TYPE, render
from .store import Entry, make_store

log = logging.getLogger("ollama_gate.cache")

HEADER = "X-Ollama-Gate-Cache"
KEY = "cache.key"  # call.extra: the entry's key, when its answer is to be stored


def client_directives(headers) -> set[str]:
    """The request's cache directives (``Cache-Control`` and ``Pragma``), lower-case."""
    values = headers.getlist("Cache-Control") + headers.getlist("Pragma")
    return {
        part.split("=", 1)[0].strip().lower()
        for value in values
        for part in value.split(",")
    }


def wants_stream(endpoint: str, payload: dict) -> bool:
    """True when the client asked for a stream (native: unless ``stream: false``)."""
    if endpoint in ("/api/generate", "/api/chat"):
        return go_field(payload, "stream") is not False
    if endpoint in ("/v1/chat/completions", "/v1/completions"):
        return go_field(payload, "stream") is True
    return False  # embeddings are always whole


def wants_usage(payload: dict) -> bool:
    """True when a ``/v1`` stream asked for its usage chunk."""
    options = go_field(payload, "stream_options")
    return isinstance(options, dict) and go_field(options, "include_usage") is True


class CacheStage(Stage):
    """Answers repeated deterministic calls from the store; stores fresh answers."""

    name = "cache"

    def __init__(self, app: Flask):
        s = app.config["GATE"]
        self.mode = s["CACHE"]
        self.shared = s["CACHE_SCOPE"] == "shared"
        self.charge_hits = s["CACHE_HITS_COUNT_TOKENS"]
        self.history_mode = s["HISTORY_MODE"]
        self.store = make_store(app)

    def answer(self, call: Call) -> Response | None:
        """The cached answer on a hit; else None, the verdict noted on the call."""
        verdict, response = self._lookup(call)
        call.cache = verdict
        if response is None:
            call.answer_headers[HEADER] = verdict
        return response

    def _lookup(self, call: Call) -> tuple[str, Response | None]:
        if call.method != "POST" or call.payload is None:
            return "bypass", None
        if call_mode(call, self.history_mode) != "full":
            return "bypass", None  # no answer text may be kept for this key
        payload = call.payload
        if bypass_reason(call.endpoint, payload, self.mode):
            return "bypass", None
        directives = client_directives(call.request_headers)
        if "no-store" in directives:
            return "bypass", None
        digest = self.digest(go_field(payload, "model"))
        if digest is None:
            return "bypass", None  # a model no backend lists: never a stale answer
        try:
            key = cache_key(
                call.endpoint,
                payload,
                digest,
                scope_of(call.identity, self.shared, call.end_user),
            )
        except (ValueError, TypeError, RecursionError):
            return "bypass", None
        call.extra[KEY] = key  # its fresh answer is stored after it
        # and what runs upstream is what the key names: the payload parsed here, sent
        # as JSON, not the client's bytes, where a name given twice is kept once by
        # Python's parser but merged by Go's (two "options" maps: both apply)
        call.rewritten = True
        if "no-cache" in directives:  # a fresh answer, which replaces the entry
            return "bypass", None
        try:
            blob = self.store.get(key)
        except Exception:  # a store that fails must not fail the call
            log.warning("cache: lookup failed", exc_info=True)
            return "bypass", None
        entry = unpack(blob) if blob is not None else None
        if entry is None:
            return "miss", None
        try:
            return "hit", self.replay(call, payload, entry)
        except (KeyError, IndexError, TypeError, AttributeError, ValueError):
            log.warning("cache: an entry that cannot be replayed", exc_info=True)
            call.charge_tokens, call.strip_usage = True, False
            call.extra[KEY] = key  # replaced by the fresh answer
            return "miss", None

    def digest(self, model: str) -> str | None:
        """The model's digest (``digest.model_digest``); None if it cannot be known."""
        gate = current_app.extensions["ollama_gate"]
        try:
            return model_digest(gate, model)
        except Exception:  # a lookup that fails means "not cached", never an error
            log.warning("cache: no digest for %r", model, exc_info=True)
            return None

    def replay(self, call: Call, payload: dict, entry: dict) -> Response:
        """The hit's answer, in the framing the client asked for."""
        call.extra.pop(KEY, None)
        if not self.charge_hits:
            call.charge_tokens = False
        stream = wants_stream(call.endpoint, payload)
        content_type, body = render(entry, call.endpoint, call.model, stream)
        headers = {HEADER: "hit"}
        if content_type == JSON_TYPE:
            return Response(body, content_type=content_type, headers=headers)
        if call.endpoint.startswith("/v1/") and not wants_usage(payload):
            call.strip_usage = True  # kept for the record, not sent
        headers["X-Accel-Buffering"] = "no"

        def pieces():
            yield body  # all of it at once: clients read the lines as they come

        return Response(pieces(), content_type=content_type, headers=headers)

    def record(self, calls: list[Call]) -> None:
        """Count the batch's hits and misses; store the answers of its misses."""
        verdicts = [call.cache for call in calls]
        hits, misses = verdicts.count("hit"), verdicts.count("miss")
        if hits or misses:
            try:  # the answers below are still stored if the counters fail
                self.store.count(hits, misses)
            except Exception:
                log.warning("cache: counting failed", exc_info=True)
                db.session.rollback()
        entries = []
        for call in calls:
            key = call.extra.get(KEY)
            if key is None:
                continue
            entry = capture(call)
            if entry is not None:
                entries.append(Entry(key, call.endpoint, call.model or "", pack(entry)))
        if entries:
            self.store.put(entries)
