"""Hands the worker's freed heap memory back to the system now and then (glibc only).

Python frees objects to the C allocator, and glibc keeps what is freed inside its heap
resident: after a burst of thousands of streams, and a few rounds of busy traffic, the
worker's resident memory climbed by 10-17 MB a round (bench/PROFILE.md) although the
Python heap itself was back to where it started. ``malloc_trim(0)`` gives the free
pages inside the heap back (they stay mapped, and are faulted in again if used), which
kept the peak of every round where the first one was. It takes 0.4 ms (1.6 at most)
with a busy worker's heap.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("ollama_gate.heap")


def malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (musl, macOS)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    trim = getattr(libc, "malloc_trim", None)
    if trim is not None:
        trim.argtypes = [ctypes.c_size_t]
        trim.restype = ctypes.c_int
    return trim


def start_trimming(interval: float) -> bool:
    """Trim the heap every ``interval`` seconds in a background thread (a greenlet
    under gevent); False when ``interval`` is 0 or the C library cannot."""
    trim = malloc_trim() if interval > 0 else None
    if trim is None:
        return False

    def run() -> None:
        while True:
            time.sleep(interval)
            try:
                trim(0)
            except Exception:  # never expected; the worker must not lose its trimmer
                log.exception("malloc_trim failed")

    threading.Thread(target=run, name="ollama-gate-heap-trim", daemon=True).start()
    log.info("freed memory goes back to the system every %g s", interval)
    return True
