"""Whether a client has closed its connection, asked without reading from it (a call
waiting in the queue has read its request and nothing more).

Peeking at the next byte tells a closed peer only when nothing is left unread: a
client that sent one byte more (a pipelined request's start) and then closed would
look alive, and its call run for nobody. ``poll`` with ``POLLRDHUP`` (Linux) sees the
peer's end of stream behind any unread bytes. gevent replaces ``select.poll`` with
its own, which reports only ``POLLIN``/``POLLOUT``: the system's is taken, which is
safe here because a poll with no timeout never blocks.
"""

from __future__ import annotations

import select
import socket

from gevent.monkey import get_original

RDHUP = getattr(select, "POLLRDHUP", 0)  # 0 where the system has none (not Linux)
GONE = RDHUP | select.POLLHUP | select.POLLERR | select.POLLNVAL
_poll = get_original("select", "poll")


def closed(sock) -> bool:
    """True when the peer of ``sock`` has closed (or reset) its end."""
    try:
        poller = _poll()
        poller.register(sock.fileno(), select.POLLIN | RDHUP)
        events = poller.poll(0)
        if not events:
            return False
        flags = events[0][1]
        if flags & GONE:
            return True
        if RDHUP:  # readable, and the peer's end not reached: unread bytes
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""  # no POLLRDHUP: the old way
    except (OSError, ValueError):
        return True
