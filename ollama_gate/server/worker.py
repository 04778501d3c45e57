"""The gunicorn worker class, named by dotted path in ``gunicorn.conf.py``.

gunicorn imports it in the master, before any gevent patching: it imports nothing of
the app (no Flask, no database), only gunicorn's own gevent worker and the handler.
"""

from __future__ import annotations

import os

from gunicorn.workers.ggevent import GeventPyWSGIWorker

from .handler import GateHandler
from .limits import HEAD_TIMEOUT, MAX_PER_CLIENT, UNCAPPED, ConnectionGuard


class GateWorker(GeventPyWSGIWorker):
    """gunicorn's gevent worker on gevent's pywsgi server, with ``GateHandler``."""

    wsgi_handler = GateHandler

    def init_process(self):
        """In the worker process: the handler's idle timeout is gunicorn's
        ``keepalive``; the head deadline and the cap per client come from settings."""
        from dotenv import load_dotenv  # here: in the worker, not the master

        load_dotenv(override=False)  # the app reads .env too, but only later
        env = os.environ.get
        GateHandler.idle_timeout = float(self.cfg.keepalive)
        GateHandler.head_timeout = float(env("OLLAMA_GATE_HEAD_TIMEOUT", HEAD_TIMEOUT))
        GateHandler.guard = ConnectionGuard(
            int(env("OLLAMA_GATE_MAX_CONNECTIONS_PER_CLIENT", MAX_PER_CLIENT)),
            env("OLLAMA_GATE_UNCAPPED_ADDRESSES", UNCAPPED),
        )
        super().init_process()
