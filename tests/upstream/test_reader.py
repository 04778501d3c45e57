"""The streamed body's reader on gevent's sockets (as the worker runs it): what was
buffered with the head first, then one read per wake-up, the buffered reader let go,
and the read timeout counted over waits for the upstream only."""

from __future__ import annotations

import io
import socket
import time

import gevent
import pytest
from gevent import socket as gsocket

from ollama_gate.upstream.pieces import StreamedPieces
from ollama_gate.upstream.reader import SocketReader, socket_reader


class Answer:
    """Just what the reader takes from http.client's response: its ``fp``."""

    def __init__(self, fp):
        self.fp = fp


@pytest.fixture
def pair():
    """An upstream socket (gevent's, read timeout 0.3 s) and the server's end."""
    ours, theirs = gsocket.socketpair()
    ours.settimeout(0.3)
    yield ours, theirs
    ours.close()
    theirs.close()


def test_the_buffered_start_comes_first_then_one_read_per_arrival(pair):
    ours, theirs = pair
    fp = ours.makefile("rb")
    theirs.sendall(b"HEAD\r\n" + b"first")
    assert fp.readline() == b"HEAD\r\n"  # http.client reads the head; "first" stays
    answer = Answer(fp)
    reader = socket_reader(answer)
    assert isinstance(reader, SocketReader)
    read, stop = reader.read, reader.close
    assert read(65536) == b"first"  # from the buffer, without waiting
    assert isinstance(answer.fp, io.RawIOBase)  # the buffered reader is let go

    def later():
        gevent.sleep(0.05)
        theirs.sendall(b"second")

    gevent.spawn(later)
    assert read(65536) == b"second"  # waited for it, then one read
    theirs.sendall(b"third")
    assert read(65536) == b"third"
    theirs.close()
    assert read(65536) == b""  # the end
    stop()
    answer.fp.close()  # what http.client does at the end: the socket stays open
    assert ours.fileno() != -1


def test_a_wait_past_the_read_timeout_fails_and_time_spent_elsewhere_does_not(pair):
    ours, theirs = pair
    reader = socket_reader(Answer(ours.makefile("rb")))
    read, stop = reader.read, reader.close
    theirs.sendall(b"a")
    assert read(10) == b"a"
    gevent.sleep(0.5)  # busy elsewhere (writing to a slow client) past the timeout
    theirs.sendall(b"b")
    assert read(10) == b"b"  # the wait itself was short: no timeout
    time.sleep(0.4)  # busy without yielding: the loop's clock is left behind
    gevent.spawn_later(0.05, theirs.sendall, b"c")
    assert read(10) == b"c"  # that time is not counted as waiting either
    with pytest.raises(TimeoutError):
        read(10)  # nothing comes: the wait fails after the read timeout
    stop()


def test_outside_gevent_the_buffered_reader_is_used():
    a, b = socket.socketpair()
    try:
        fp = a.makefile("rb")
        assert socket_reader(Answer(fp)) is None
        pieces = StreamedPieces(None, Answer(fp))
        assert pieces.read == fp.read1
        pieces.close()
    finally:
        a.close()
        b.close()


def past_the_start(pair, start: bytes):
    """``(read, stop, reader)`` of a body whose buffered start has been read."""
    ours, theirs = pair
    reader = socket_reader(Answer(ours.makefile("rb")))
    theirs.sendall(start)
    assert reader.read(10) == start  # the buffered start goes by read() first
    return reader.read, reader.close, reader


def test_the_pump_hands_each_read_on_in_the_hub_until_told_to_stop(pair):
    _, theirs = pair
    read, stop, reader = past_the_start(pair, b"first")
    seen = []

    def on_data(data: bytes) -> bool:
        assert gevent.getcurrent() is gevent.get_hub()  # no switch to the stream's
        seen.append(data)
        return data == b"stop"

    def later():
        for piece in (b"a", b"b", b"stop"):
            gevent.sleep(0.02)
            theirs.sendall(piece)

    gevent.spawn(later)
    reader.pump(on_data)
    assert seen == [b"a", b"b", b"stop"]
    theirs.sendall(b"after")
    assert read(10) == b"after"  # the greenlet reads on as before
    theirs.close()
    reader.pump(on_data)  # the end is handed on, and stops the pump
    assert seen[-1] == b""
    stop()


def test_the_pump_fails_after_the_read_timeout_and_a_hub_error_reaches_it(pair):
    _, theirs = pair
    _, stop, reader = past_the_start(pair, b"x")
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        reader.pump(lambda data: False)  # nothing more comes
    assert time.monotonic() - started >= 0.29
    theirs.sendall(b"y")

    def broken(data: bytes) -> bool:
        raise ValueError("in the hub")

    with pytest.raises(ValueError):
        reader.pump(broken)  # raised in the stream's greenlet, not the hub's log
    stop()


def test_the_pump_refuses_before_the_buffered_start_was_read(pair):
    ours, _ = pair
    reader = socket_reader(Answer(ours.makefile("rb")))
    with pytest.raises(RuntimeError):
        reader.pump(lambda data: True)
    reader.close()
