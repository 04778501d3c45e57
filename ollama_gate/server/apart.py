"""The app's call in a greenlet of its own (``GateHandler.run_application``)."""

from __future__ import annotations

from greenlet import getcurrent, greenlet


def apart(function, *args):
    """``function(*args)`` run in a greenlet of its own that ends with it, sharing
    the caller's context variables (Flask's request context among them).

    A greenlet's Python frames live in a 16 KB stack chunk of its own, and the pages
    a deep call chain touched stay resident for the greenlet's life: the app's
    (Flask, auth, the pipeline, urllib3) touched all of it, which every connection
    then held while idle or relaying (about 12 KB of its 25, bench/memory.py). Run
    apart, the app's chunk goes when it returns; the connection's greenlet only ever
    goes as deep as the server's own loop."""
    here = getcurrent()
    helper = greenlet(function, parent=here)  # its end (or failure) returns here
    helper.gr_context = here.gr_context
    return helper.switch(*args)
