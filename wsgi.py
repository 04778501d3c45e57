"""WSGI entry point for gunicorn: gevent patches the standard library first, then the
app."""

import gc
import logging

from gevent import monkey

monkey.patch_all()

import http.client  # noqa: E402

from ollama_gate import create_app  # noqa: E402  (must come after monkey-patching)
from ollama_gate.headers import parse_headers  # noqa: E402
from ollama_gate.heap import start_trimming  # noqa: E402

# Header sections, of requests (pywsgi reads them with http.client's parse_headers) and
# of the upstream's answers, are read without the email parser for plain lines (same
# result; see ollama_gate/headers.py); in the worker only, like gevent's patching above.
http.client.parse_headers = parse_headers

app = create_app()
# The gateway's own log lines go where gunicorn's go (its error log: stderr by default).
gate_log = logging.getLogger("ollama_gate")
if not gate_log.handlers:
    gate_log.handlers = list(logging.getLogger("gunicorn.error").handlers)
    gate_log.propagate = False  # a root logger with handlers would print them twice
# In the worker only (not in tests or the CLI): freed memory goes back to the system.
start_trimming(app.config["GATE"]["HEAP_TRIM_SECONDS"])

# What the app built at import lives as long as the worker: keep it out of the garbage
# collector's scans, and collect less often (a worker relaying thousands of streams
# allocates fast; the default thresholds made it walk every live object many times a
# second). Measured with bench/: about 10% less CPU per call. The oldest generation is
# still collected every few seconds under load: rarer, and cyclic garbage piled up.
gc.freeze()
gc.set_threshold(50_000, 20, 10)
