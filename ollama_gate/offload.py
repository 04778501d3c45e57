"""Work that would hold the event loop, run in a real thread under gevent.

Under gevent every greenlet of a worker shares one thread: a CPU-heavy call (scrypt,
parsing a big JSON body) or a long SQLite query stalls every stream meanwhile. Those
release the GIL (hashlib's scrypt, sqlite3 and psycopg while the database works) or
give it back every few milliseconds (the json parser), so in gevent's thread pool
the loop keeps serving. Outside gevent (tests, the CLI) the call runs inline.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def off_loop(fn: Callable[..., T], *args) -> T:
    """``fn(*args)`` in gevent's thread pool when gevent runs the process."""
    try:
        from gevent import get_hub, monkey
    except ImportError:  # gevent is a runtime dependency; the CLI may run without
        return fn(*args)
    if not monkey.is_module_patched("threading"):
        return fn(*args)
    return get_hub().threadpool.apply(fn, args)
