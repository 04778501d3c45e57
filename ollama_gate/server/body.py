"""A deadline for a request's body, beside the head's (``limits.head_deadline``).

The head deadline ends where the body begins, and the idle timeout counts only
silence: a client sending one byte of its body a minute held its connection for as
long as it liked, keyless too (the body of a refused call is still read, to find the
next request). From the end of its head, a request's whole body must arrive within
``OLLAMA_GATE_BODY_TIMEOUT`` seconds: past it, a read fails with ``BodyTimeout``
(408 in the API family's shape) and the connection is closed.
"""

from __future__ import annotations

import time

import gevent
from gevent.pywsgi import Input

ENVIRON_KEY = "ollama_gate.body_input"  # the request's ``BodyInput``, if any


class BodyTimeout(OSError):
    """The request body did not arrive in time.

    An OSError, so that pywsgi, reading what the application left unread, drops the
    connection without a traceback; ``errors.py`` answers it with 408 wherever the
    app reads a body (the API, forms). No werkzeug here: gunicorn's master imports
    the worker, and with it this module, before the app."""

    code = 408

    def __init__(self, seconds: float):
        self.description = f"request body not received within {seconds:g} s of its head"
        super().__init__(self.description)


class BodyInput(Input):
    """pywsgi's request body reader, whose reads end at a deadline."""

    __slots__ = ("deadline", "seconds", "timed_out")

    def __init__(self, source: Input, seconds: float):
        super().__init__(
            source.rfile, source.content_length, source.socket, source.chunked_input
        )
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.timed_out = False

    def lift(self) -> None:
        """No deadline for this body (an admitted upload of a model's blob, which may
        take many minutes; the idle timeout still applies)."""
        self.deadline = None

    def read(self, length=None):
        """``Input.read``, within the deadline."""
        with self._timer():
            return super().read(length)

    def readline(self, size=None):
        """``Input.readline``, within the deadline."""
        with self._timer():
            return super().readline(size)

    def _timer(self) -> gevent.Timeout:
        if self.deadline is None:
            return gevent.Timeout(None)  # never fires
        left = self.deadline - time.monotonic()
        if left <= 0 or self.timed_out:
            self.timed_out = True
            raise BodyTimeout(self.seconds)
        return _Marking(self, left)


class _Marking(gevent.Timeout):
    """A timer raising ``BodyTimeout`` that marks its reader timed out (whatever is
    left of the body cannot be found: the connection ends)."""

    def __init__(self, reader: BodyInput, left: float):
        super().__init__(left, BodyTimeout(reader.seconds))
        self.reader = reader

    def __exit__(self, typ, value, tb):
        self.close()
        if value is self.exception:
            self.reader.timed_out = True
        return False  # the BodyTimeout goes on up


def bound_body(environ: dict, reader: Input, seconds: float) -> Input:
    """The request's body reader: a ``BodyInput`` in ``reader``'s place (also in
    ``environ``) when the request has a body, else ``reader``."""
    if environ.get("wsgi.input") is not reader or not (
        reader.content_length or reader.chunked_input
    ):
        return reader  # no body, or an upgraded connection's raw stream
    bound = environ["wsgi.input"] = environ[ENVIRON_KEY] = BodyInput(reader, seconds)
    return bound


def body_input(environ: dict) -> BodyInput | None:
    """The request's deadline-bound body reader, if the server made one."""
    return environ.get(ENVIRON_KEY)
