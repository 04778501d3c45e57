"""Cutting an upstream request from another greenlet: the one way to end a request
still waiting for its answer's head (a model loading), which makes Ollama abort it."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

from .connection import SENDING


class Sent(list):
    """The connections of the requests sent in a ``Cuttable.sending`` block."""

    cut_done = False  # they were cut: none may be sent again on a fresh one


def was_cut() -> bool:
    """True inside a ``sending`` block whose requests were cut (no retry)."""
    sent = SENDING.get()
    return sent is not None and sent.cut_done


class Cuttable:
    """The connections the requests sent inside ``sending()`` use."""

    def __init__(self):
        self.conns = Sent()

    @property
    def cut_done(self) -> bool:
        """True once ``cut`` ran."""
        return self.conns.cut_done

    @contextmanager
    def sending(self) -> Iterator[None]:
        """Requests sent in this block can be cut (plain HTTP backends)."""
        token = SENDING.set(self.conns)
        try:
            yield
        finally:
            SENDING.reset(token)

    def cut(self) -> None:
        """End the requests at once: their reads fail, their sockets are closed."""
        self.conns.cut_done = True
        for conn in self.conns:
            sock = getattr(conn, "sock", None)
            if sock is None:
                continue
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed
