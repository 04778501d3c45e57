"""WSGI entry point for gunicorn: gevent patches the standard library first, then the app."""

from gevent import monkey

monkey.patch_all()

from ollama_gate import create_app  # noqa: E402  (must come after monkey-patching)

app = create_app()
