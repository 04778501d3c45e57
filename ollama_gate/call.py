"""The record of one API call as it walks the pipeline: filled in by each stage.

A neutral core type: it belongs to no feature package, so every stage can import it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from werkzeug.datastructures import Headers

from .keys import Identity
from .models import utcnow

# Stream bytes kept per call for the record; past this the answer is marked truncated.
MAX_KEPT_BYTES = 8 * 1024 * 1024
# Past that, the answer's last bytes are still kept: its final line carries the token
# counts that quotas charge.
TAIL_BYTES = 64 * 1024
# where the view keeps the open call in the request's WSGI environ (request hooks
# that run after the view, e.g. the request id's, find it there)
ENVIRON_KEY = "ollama_gate.call"


@dataclass(slots=True, eq=False)
class Call:
    """One API call: the request, the identity, and what came back."""

    identity: Identity
    method: str
    path: str  # decoded request path, e.g. /api/chat
    upstream_path: str  # raw path and query forwarded upstream (``%2F`` kept)
    endpoint: str  # path with ids folded, e.g. /api/blobs/{digest}, /v1/models/{id}
    payload: dict[str, Any] | None = None  # parsed JSON body, if it was JSON
    rewritten: bool = False  # a stage changed ``payload``: it is sent, not the body
    unparsed: bytes = b""  # the first bytes of a body nothing here could parse
    body_size: int = 0  # bytes of the request body (token quotas hold an estimate)
    max_output: int | None = None  # the most tokens it asks to generate, if it says
    model: str | None = None  # as the client named it (an alias stays an alias)
    client_addr: str | None = None
    request_id: str = ""  # X-Request-ID, taken or made (ops.requestid)
    user_agent: str | None = None
    backend: str | None = None
    started_at: datetime = field(default_factory=utcnow)
    t0: float = field(default_factory=time.perf_counter)
    status: int | None = None
    content_type: str = ""
    streamed: bool = False
    ttfb: float | None = None  # seconds from arrival to the first byte sent back
    total: float | None = None  # seconds from arrival to the last byte
    chunks: list[bytes] = field(default_factory=list)  # the answer as sent (bounded)
    kept_bytes: int = 0
    truncated: bool = False
    tail: bytes = b""  # the last bytes of a truncated answer
    dropped_lines: int = 0  # line ends in what was not kept (tokens relayed)
    completed: bool = False  # the upstream finished its answer normally
    disconnected: bool = False  # the client went away before the end
    error: str | None = None
    finished: bool = False  # handed to ``Gate.finish`` (exactly once)
    stats: dict[str, Any] = field(
        default_factory=dict
    )  # filled by ``summary.summarise``
    # What stages share, one field each (who sets it: who reads it). A stage's own
    # state stays in ``extra`` (tests/core/test_call_fields.py holds both to this).
    # proxy.views (the request's): routing (the pin), scheduler (the session),
    # cache (Cache-Control); empty for calls made outside the proxy
    request_headers: Headers = field(default_factory=Headers)
    # routing.aliases (the model an alias stands for): routing, scheduler, history,
    # traces; None when the call named a model itself
    upstream_model: str | None = None
    # cache ("hit", "miss" or "bypass"; None with no cache stage): history, metrics,
    # ops.calllog, traces
    cache: str | None = None
    # scheduler (seconds spent in the fair queue): history, traces; None when the
    # call never waited (history keeps no wait for it)
    queue_wait: float | None = None
    # cache, routing.failover ({name: value} added to the answer, replacing
    # upstream's of the same name): proxy.views
    answer_headers: dict[str, str] = field(default_factory=dict)
    # proxy.usage, cache (the /v1 usage in the answer is the gateway's own: taken out
    # of the stream, kept for the record): proxy.views
    strip_usage: bool = False
    # cache (False: the call ran no model, a hit the settings do not charge): limits
    # (it counts as a call; its tokens count against no token quota)
    charge_tokens: bool = True
    # proxy.coldload (the canonical model a call loads on a backend that has it
    # loaded nowhere): routing.loads (load time, the backend's /api/ps re-read)
    cold_model: str | None = None
    # proxy.coldload (seconds from a cold call's send to its answer's head, its own
    # wait for a slot left out): routing.loads (the load time when Ollama says none)
    head_wait: float | None = None
    # scheduler (the backend of the conversation's last turn, if it has one):
    # routing (prefix-aware order: a tie-break after the longest prefix)
    last_backend: str | None = None
    # routing (the prompt's home, its slots full, and the seconds worth waiting for
    # it rather than read the prompt cold elsewhere): scheduler (``holds.py``)
    home_hold: tuple[Any, float] | None = None
    # endusers (the person behind an app key, an ``endusers.Person``; None for other
    # calls): scheduler (its queue share), history, limits (through ``levels``)
    end_user: Any = None
    # endusers (an app's background task, e.g. "title"; None: a chat): history
    task: str | None = None
    # endusers (the conversation an app names, e.g. Open WebUI's chat id): scheduler
    # (affinity)
    conversation: str | None = None
    # limits (the day, week and month it was admitted in, by kind "d", "w", "m", in
    # the gateway's time zone; empty: not an inference call): endusers (the person's
    # usage rows, their quota counters' seed, are named alike)
    periods: dict[str, str] = field(default_factory=dict)
    # one stage's private state, under "<package>.<name>" (e.g. "limits.held")
    extra: dict[str, Any] = field(default_factory=dict)
    # the chain of subjects whose settings bound the call, most specific first; empty:
    # the identity's (``subjects.levels_of``; ``subjects.prepend_level`` adds one)
    levels: tuple = ()

    def keep(self, chunk: bytes) -> None:
        """Keep a chunk of the answer for the record, up to ``MAX_KEPT_BYTES``."""
        if self.kept_bytes + len(chunk) <= MAX_KEPT_BYTES:
            self.chunks.append(chunk)
            self.kept_bytes += len(chunk)
        else:  # rare: only answers past the bound pay for the tail and the count
            self.truncated = True
            self.tail = (self.tail + chunk)[-TAIL_BYTES:]
            self.dropped_lines += chunk.count(b"\n")

    @property
    def body(self) -> bytes:
        """The kept answer bytes, joined."""
        return b"".join(self.chunks)
