"""WSGI entry point for gunicorn: gevent patches the standard library first, then the
app is built and the worker tuned (``ollama_gate/server/tune.py``: its health checks
log each backend and whether it answers)."""

from gevent import monkey

monkey.patch_all()

from ollama_gate import create_app  # noqa: E402  (must come after monkey-patching)
from ollama_gate.server.tune import tune_worker  # noqa: E402

app = create_app()
tune_worker(app)
