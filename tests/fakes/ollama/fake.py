"""FakeOllama: the fake server's controls, state and models."""

from __future__ import annotations

import copy
import hashlib
import socket
import threading

from tests.fakes import loads

from .bookkeeping import (
    Bookkeeping,
)
from .data import (
    DEFAULT_LOADED,
    DEFAULT_MODELS,
    VERSION,
    _now_rfc3339,
    embedding_for,
    expected_text,
    normalize_model_name,
    token_text,
)
from .server import (
    _Handler,
    _Server,
)


class FakeOllama(Bookkeeping):
    """Fake Ollama server running in background threads."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, verbose: bool = False):
        self.host = host
        self.port = port
        self.verbose = verbose
        self.version = VERSION
        self._lock = threading.RLock()
        self._server = None
        self._thread = None
        self._conns = set()
        self.requests = []
        self.first_chunk_sent = threading.Event()
        self.release = threading.Event()
        self.disconnected = threading.Event()
        self._set_defaults()

    # -------------------------------------------------------------- control

    def _set_defaults(self):
        with self._lock:
            self.requests.clear()
            self.epoch = getattr(self, "epoch", 0) + 1
            self.chunk_delay = 0.0
            self.hold_second_chunk = False
            self.fail_mid_stream_after = None
            self.error_mid_stream = None
            self.next_status = None
            self.required_token = None
            self.busy = False
            self.parallel = None  # calls of one model run at once (the rest queue)
            self.prompt_cache_delay = 0.0  # seconds to read a prompt not cached here
            self.prompt_cache = set()  # conversations whose prefix this server holds
            self.max_queue = 512  # calls waiting per model; past it, "server busy"
            self.running = {}  # model -> calls running now
            self.peak_running = {}  # model -> most calls ever running at once
            self.model_slots = {}
            self.response_delay = 0.0
            self.gpu = None  # tests/fakes/gpu.py's FakeGPU, when a test sets one
            self.anthropic_ping = False  # /v1/messages sends Anthropic's ``ping``
            loads.defaults(self)  # cold loads: load_delay, loads_*
            self.models = copy.deepcopy(DEFAULT_MODELS)
            self.loaded = list(DEFAULT_LOADED)
            self.blobs = {}
            self.disconnect_count = 0
            self.chunks_sent = 0
            self.streams_started = 0
            self.streams_completed = 0
            self.aborted_count = 0
            self.first_chunk_sent.clear()
            self.release.clear()
            self.disconnected.clear()

    def reset(self):
        """Clear records, counters and events; restore default controls/models."""
        self._set_defaults()

    def start(self) -> FakeOllama:
        self._server = _Server((self.host, self.port), _Handler)
        self._server.fake = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=f"fake-ollama-{self.port}",
        )
        self._thread.start()
        return self

    def stop(self):
        """Stop listening and cut all open connections (held streams are released)."""
        if self._server is None:
            return
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server = None
        if self._thread:
            self._thread.join(timeout=5)
            self._thread = None

    def close_connections(self):
        """Shut down every currently open client connection (keeps listening)."""
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self):
        return self.start() if self._server is None else self

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self) -> str:
        host = self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._conns)

    # --------------------------------------------------------------- models

    def find_model(self, name):
        if not isinstance(name, str) or not name:
            return None
        key = normalize_model_name(name)
        with self._lock:
            for m in self.models:
                if normalize_model_name(m.get("name") or m.get("model", "")) == key:
                    return m
        return None

    def add_model(self, name, capabilities=None, family="llama", **fields):
        """Add (or replace) a model entry; returns it."""
        digest = hashlib.sha256(name.encode()).hexdigest()
        entry = {
            "name": name,
            "model": name,
            "modified_at": "2025-07-01T09:00:00.000000001+02:00",
            "size": 1_000_000_000,
            "digest": digest,
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": family,
                "families": [family],
                "parameter_size": "1B",
                "quantization_level": "Q4_K_M",
            },
            "capabilities": list(capabilities or ["completion", "tools"]),
        }
        entry.update(fields)
        with self._lock:
            self._remove_model(name)
            self.models.append(entry)
        return entry

    def _add_model(self, name, digest, template=None):
        with self._lock:
            if template is not None:
                entry = copy.deepcopy(template)
                entry.update(name=name, model=name)
                if digest:
                    entry["digest"] = digest
                self._remove_model(name)
                self.models.append(entry)
                entry["modified_at"] = _now_rfc3339()
                return entry
            existing = self.find_model(name)
            if existing:
                return existing
            return self.add_model(name, digest=digest, modified_at=_now_rfc3339())

    def _remove_model(self, name):
        key = normalize_model_name(name)
        with self._lock:
            before = len(self.models)
            self.models[:] = [
                m for m in self.models if normalize_model_name(m.get("name", "")) != key
            ]
            self.loaded[:] = [x for x in self.loaded if normalize_model_name(x) != key]
            return len(self.models) != before

    # convenience re-exports
    expected_text = staticmethod(expected_text)
    token_text = staticmethod(token_text)
    embedding_for = staticmethod(embedding_for)
    normalize_model_name = staticmethod(normalize_model_name)
