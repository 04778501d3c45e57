"""The recorder's turns: background work on a gevent worker lets the streams run.

Under gevent the recorder's hooks run in the same thread as every stream: while a
hook works, no token is forwarded and no new call starts. So the background work
gives the loop a turn whenever it has held the worker for a slice.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

# A pause that lets the worker's waiting I/O run. Under gevent ``sleep(0)`` is not
# one: it only lets greenlets that are already runnable run, and the sleeper can be
# scheduled again before the loop polls its sockets; a positive sleep waits for the
# loop's next turn, where every stream's waiting token goes (gevent's own docs). A
# batch's hooks with ``sleep(0)`` between them held the worker 16-20 ms and every
# stream's next token with it (bench/, issue 18).
TURN = 0.0005
# The longest the recorder holds the worker between two turns. Turns used to come
# every 20 calls and between hooks, but a hook's loop over 100 calls that cost
# 0.1-0.7 ms each still held the worker 3-17 ms at a time, and 200 paced streams'
# tokens and first bytes waited behind it (PROFILE.md, issue 31). Measured in time,
# a slice is as long on a cheap loop as on a dear one.
SLICE = 0.001


_last_turn = [0.0]  # when the recorder last let the streams run (perf_counter)


def let_streams_run() -> None:
    """Give the worker's loop a turn (see ``TURN``)."""
    time.sleep(TURN)
    _last_turn[0] = time.perf_counter()


def turn_if_due() -> None:
    """A turn of the loop once the recorder has held the worker ``SLICE``."""
    if time.perf_counter() - _last_turn[0] >= SLICE:
        let_streams_run()


def in_turns(items: Iterable[T]) -> Iterator[T]:
    """``items``, with a turn of the loop whenever the recorder has held the worker
    ``SLICE`` (a hook's loop over a batch of 100-200 calls is 3-20 ms otherwise)."""
    for item in items:
        turn_if_due()
        yield item
