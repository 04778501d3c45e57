"""The gunicorn worker class, named by dotted path in ``gunicorn.conf.py``.

gunicorn imports it in the master, before any gevent patching: it imports nothing of
the app (no Flask, no database), only gunicorn's own gevent worker and the handler.
"""

from __future__ import annotations

import signal

import gevent
from gunicorn.workers.ggevent import GeventPyWSGIWorker

from .handler import GateHandler


class GateWorker(GeventPyWSGIWorker):
    """gunicorn's gevent worker on gevent's pywsgi server, with ``GateHandler``."""

    wsgi_handler = GateHandler
    interrupted = False  # a first SIGINT came

    def init_process(self):
        """In the worker process: the handler's idle timeout is gunicorn's
        ``keepalive`` (its head deadline and connection cap come from the app's
        settings, in ``tune.tune_worker``)."""
        GateHandler.idle_timeout = float(self.cfg.keepalive)
        super().init_process()

    def handle_exit(self, sig, frame):
        """SIGTERM: stop as gunicorn does (answers in flight get graceful_timeout),
        and close the idle kept-alive connections now instead of waiting for them."""
        super().handle_exit(sig, frame)
        gevent.spawn(GateHandler.drain)  # out of the signal handler

    def handle_quit(self, sig, frame):
        """Ctrl-C reaches the workers too (the terminal signals the whole process
        group): the first SIGINT drains as SIGTERM does; the next, or SIGQUIT, stops
        at once."""
        if sig == signal.SIGINT and not self.interrupted:
            self.interrupted = True
            self.handle_exit(sig, frame)
            return
        super().handle_quit(sig, frame)
