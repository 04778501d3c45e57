"""The app ``ollama-gate serve`` hands gunicorn (``ollama_gate.server.wsgi:build()``,
a factory, so importing this module builds nothing); the checkout's ``wsgi.py`` does
the same at import."""

from __future__ import annotations


def build():
    """Patch the standard library for gevent, build the app, tune the worker."""
    from gevent import monkey

    monkey.patch_all()  # the worker has patched already; harmless then

    from .. import create_app
    from .tune import tune_worker

    app = create_app()
    tune_worker(app)
    return app
