"""WSGI entry point for gunicorn: gevent patches the standard library first, then the
app is built, the worker tuned (``ollama_gate/server/tune.py``) and the backends
checked."""

from gevent import monkey

monkey.patch_all()

from ollama_gate import create_app  # noqa: E402  (must come after monkey-patching)
from ollama_gate.ops.startup import announce_backends  # noqa: E402
from ollama_gate.server.tune import tune_worker  # noqa: E402

app = create_app()
tune_worker(app)
announce_backends(app)  # logs each backend and whether it answers
