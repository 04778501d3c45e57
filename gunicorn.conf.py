"""gunicorn settings for a checkout (``gunicorn -c gunicorn.conf.py wsgi:app``): the
package's own, ``ollama_gate/server/gunicorn_conf.py``, which ``ollama-gate serve``
uses."""

from ollama_gate.server.gunicorn_conf import *  # noqa: F403
