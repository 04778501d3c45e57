"""heap.py: the worker's periodic malloc_trim, and its wiring in wsgi.py."""

from __future__ import annotations

import threading
import time

import requests

from ollama_gate.server import heap


def test_glibc_trim_is_found_and_runs():
    trim = heap.malloc_trim()
    assert trim is not None  # this machine's C library is glibc
    assert trim(0) in (0, 1)  # 1: memory was released, 0: there was none to release


def test_trimming_runs_every_interval_and_survives_a_failure(monkeypatch):
    calls = []

    def fake_trim(pad: int) -> int:
        calls.append(pad)
        if len(calls) == 1:
            raise OSError("first call fails")
        return 1

    monkeypatch.setattr(heap, "malloc_trim", lambda: fake_trim)
    assert heap.start_trimming(0.01)
    deadline = time.monotonic() + 10
    while len(calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert calls[:3] == [0, 0, 0]  # kept going after the failure
    assert any(t.name == "ollama-gate-heap-trim" for t in threading.enumerate())


def test_no_trimming_when_off_or_unavailable(monkeypatch):
    assert heap.start_trimming(0) is False
    monkeypatch.setattr(heap, "malloc_trim", lambda: None)
    assert heap.start_trimming(2) is False


def test_the_gunicorn_worker_trims(gateway, fake):
    """wsgi.py starts it in the worker, with the default interval."""
    key = gateway.key("heap-user")
    reply = requests.get(
        gateway.url + "/api/tags", headers={"X-API-Key": key}, timeout=10
    )
    assert reply.status_code == 200
    log = gateway.log_path.read_text()
    assert "freed memory goes back to the system every 2 s" in log
