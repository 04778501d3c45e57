"""A fake Ollama HTTP server for the test suite (stdlib only).

Speaks the wire format described in /work/shared/ollama-api.md (sections 1, 2,
3 and 6): native NDJSON streams with real HTTP/1.1 chunked transfer encoding
(one chunk per JSON object), OpenAI-compatible SSE on /v1, Anthropic's
Messages API on /v1/messages (``tests/fakes/anthropic.py``), Go-like error bodies,
HEAD routes, raw-path routing of ``/v1/models/<id>`` and streamed blob uploads
(Content-Length or chunked request bodies). Request field names are read as Go's
decoder reads them (``_go_request``: any case, the Kelvin sign and long s, never
``ß`` for ``ss``; the last spelling wins).

Usage::

    with FakeOllama() as fake:          # or fake = FakeOllama().start()
        requests.get(fake.url + "/api/tags")
        fake.requests[-1].path          # raw request target, query included

Test controls (plain attributes, all reset by ``reset()``):

* ``chunk_delay``           seconds slept between stream chunks (also applied
                            per token on non-stream generations); the sleep
                            polls the socket, so a client that goes away is
                            noticed at once.
* ``hold_second_chunk``     when True a stream sends its first chunk, sets
                            ``first_chunk_sent`` and waits (<= 30 s) for
                            ``release`` before sending the rest.
* ``fail_mid_stream_after`` N -> after N chunks the socket is shut down
                            abruptly (no terminating 0-chunk). Stays active
                            until changed/reset (applies to every stream).
* ``error_mid_stream``      (N, "message") -> after N chunks a final
                            ``{"error": message}`` NDJSON line (or SSE data
                            event) is sent and the stream ends cleanly.
* ``next_status``           (code, body[, headers]) -> the next request (any
                            path) gets this status and body once. ``body`` may
                            be a dict/list (sent as JSON), str, bytes or None.
* ``response_delay``        seconds slept before sending response headers.
* ``anthropic_ping``        when True a /v1/messages stream sends a ``ping`` event
                            after ``message_start``, as Anthropic's own API does
                            (Ollama never sends one).
* ``required_token``        when set, every request without ``Authorization:
                            Bearer <token>`` gets 401 (Ollama behind a proxy's auth,
                            or another gateway).
* ``busy``                  when True every POST gets Ollama's 503 "server busy"
                            (its queue full: ``OLLAMA_MAX_QUEUE``).
* ``prompt_cache_delay``    seconds a chat waits before answering when this server
                            has not seen its conversation (its opening messages):
                            Ollama's prompt cache, kept per server.
* ``parallel``              N -> Ollama's scheduler: at most N calls of one model
                            run at once (``OLLAMA_NUM_PARALLEL``), the rest wait in
                            order; past ``max_queue`` waiting, "server busy".
                            ``running`` and ``peak_running`` count per model.
* ``models``                mutable list of /api/tags entries.
* ``loaded``                mutable list of model names reported by /api/ps.

Observations:

* ``requests``              list of RecordedRequest (dict with attribute
                            access): method, path, headers (lower-case names),
                            body (bytes; b"" for blob uploads), json,
                            body_size, body_sha256 (hex), peer (host, port),
                            time.
* ``first_chunk_sent``      Event, set when any stream flushed its 1st chunk.
* ``disconnected``          Event, set when a client went away mid-response.
* ``disconnect_count``      number of detected client disconnects.
* ``chunks_sent``           total stream chunks written (all streams).
* ``streams_started`` / ``streams_completed`` / ``aborted_count``.
* ``blobs``                 dict "sha256:<hex>" -> size of uploaded blobs.

Run standalone: ``python -m tests.fakes.ollama --port 11434``.
"""

from __future__ import annotations

from .data import (
    BUSY_MESSAGE,
    DEFAULT_LOADED,
    DEFAULT_MODELS,
    DEFAULT_TOKENS,
    EMBED_DIM,
    THINK_WORDS,
    VERSION,
    WORDS,
    embedding_for,
    expected_text,
    normalize_model_name,
    think_text,
    token_text,
)
from .fake import FakeOllama
from .handler import RecordedRequest

__all__ = [
    "BUSY_MESSAGE",
    "DEFAULT_LOADED",
    "DEFAULT_MODELS",
    "DEFAULT_TOKENS",
    "EMBED_DIM",
    "THINK_WORDS",
    "VERSION",
    "WORDS",
    "FakeOllama",
    "RecordedRequest",
    "embedding_for",
    "expected_text",
    "normalize_model_name",
    "think_text",
    "token_text",
]
