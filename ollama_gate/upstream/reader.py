"""Reads of a streamed body straight from the upstream socket: one wake-up and one
read per chunk the upstream sent, and one read deadline per stream, not per read.

Through http.client and gevent's socket, each token of a paced stream cost a read that
found nothing (``EAGAIN`` and its exception), a ``Timeout`` started and cancelled for
the read timeout, the wait, then the read that got the token. Here a read waits for
the socket to be readable first, then reads once; the read timeout is one timer per
stream that looks at how long the current wait has lasted (``bench/``, issue 18).
"""

from __future__ import annotations

from collections.abc import Callable

PIECE = 64 * 1024  # largest read from the upstream socket for a stream
# One read buffer per hub (per thread running streams): a read lands in it and leaves
# as bytes of its exact size. ``recv(PIECE)`` allocated 64 KB per read and shrank it;
# the relay keeps every token for the record, and each kept token held two touched
# pages of its allocation, about 40 KB of resident memory per 5-token stream.
_BUFFERS: dict = {}
# A read this large means several chunks had piled up (a token line is 100-250 bytes):
# the upstream is ahead of the relay, so the next read is tried before waiting; a
# paced stream (one chunk a read) waits first, as a read tried first would fail.
EAGER = 512


def socket_reader(response) -> SocketReader | None:
    """The ``SocketReader`` of ``response``'s body, or None when its socket is not
    gevent's (tests outside gevent)."""
    gsock = getattr(getattr(response.fp, "raw", None), "_sock", None)
    raw = getattr(gsock, "_sock", None)
    watcher = getattr(gsock, "_read_event", None)
    if raw is None or watcher is None or raw.gettimeout() != 0.0:
        return None
    return SocketReader(response, gsock, raw, watcher)


class SocketReader:
    """The wait-then-read loop of one streamed body on gevent's socket."""

    __slots__ = (
        "response",
        "fp",
        "raw",
        "watcher",
        "hub",
        "loop",
        "timeout",
        "since",
        "timer",
        "fresh",
        "buf",
        "eager",
    )

    def __init__(self, response, gsock, raw, watcher):
        from gevent import get_hub  # only under gevent, where the socket is gevent's

        self.response = response
        self.fp = response.fp
        self.raw = raw
        self.watcher = watcher
        self.hub = get_hub()
        self.loop = self.hub.loop
        self.timeout = gsock.timeout  # urllib3 set the read timeout on it (or None)
        self.since: float | None = None  # when the current wait began (None: no wait)
        self.timer = None
        self.fresh = True  # the buffered reader has not been read from yet
        self.eager = False  # try a read before waiting (see EAGER)
        buf = _BUFFERS.get(self.hub)
        if buf is None:
            buf = _BUFFERS[self.hub] = memoryview(bytearray(PIECE))
        self.buf = buf

    def read(self, n: int) -> bytes:
        """Wait until the socket is readable, then read what is there (up to ``n``)."""
        if self.fresh:
            # The first read goes through the buffered reader, which may hold the start
            # of the body (read with the head). read1 returns only what is buffered
            # when anything is (a buffer is never larger than PIECE), else it makes one
            # read of the socket itself: either way the buffer is empty after it, so
            # the next reads can go to the socket.
            self.fresh = False
            data = self.fp.read1(n)
            # Then the buffered reader is done with: http.client is given its raw
            # socket file instead (which it flushes and closes at the end as it would
            # the buffered one), and the reader goes with its 8 KB buffer.
            self.response.fp = self.fp.detach()
            self.fp = None
            return data
        if self.eager:  # the upstream is ahead: what it sent is likely there already
            try:
                got = self.raw.recv_into(self.buf, n)
            except BlockingIOError:
                self.eager = False
            else:
                self.eager = got >= EAGER
                return self.buf[:got].tobytes()
        if self.timeout is not None and self.timer is None:
            self._arm(self.timeout)
        while True:
            # the loop's clock is read at each of its turns: a greenlet that ran long
            # since then would count that time as waiting
            self.loop.update_now()
            self.since = self.loop.now()
            try:
                self.hub.wait(self.watcher)
            finally:
                self.since = None
            try:
                got = self.raw.recv_into(self.buf, n)
            except BlockingIOError:  # woken with nothing to read after all
                continue
            self.eager = got >= EAGER
            return self.buf[:got].tobytes()  # no switch since the read: still ours

    def pump(self, on_data: Callable[[bytes], bool]) -> None:
        """Read in the hub, with no switch per read: ``on_data(data)`` is called in the
        hub's loop with each read's bytes and returns True to stop; the end (``b""``)
        is handed on and stops it too. Returns once stopped; raises what a read or
        ``on_data`` raised (the read timeout included).

        A paced stream's token woke its greenlet, which read it, handed it on, and
        went back to the hub to wait for the next one: two switches, a waiter and a
        watcher started and stopped a token. Here the watcher stays on for the stream
        and the read, the cut and the send to the client all happen in its callback
        (issue 18). ``on_data`` must not block or switch.
        """
        if self.fresh:
            raise RuntimeError("the buffered start is read first, by read()")
        from gevent.hub import Waiter

        waiter = Waiter(self.hub)
        raw, buf, loop = self.raw, self.buf, self.loop

        def readable():
            try:
                got = raw.recv_into(buf)
            except BlockingIOError:  # woken with nothing to read after all
                return
            except OSError as exc:
                waiter.switch(exc)
                return
            self.since = loop.now()  # a read: the read timeout counts from here
            try:
                stop = on_data(buf[:got].tobytes() if got else b"")
            except BaseException as exc:  # noqa: BLE001 (raised in the greenlet)
                waiter.switch(exc)
                return
            if stop or not got:  # at the end the socket stays readable: stop there
                waiter.switch(None)

        if self.timeout is not None and self.timer is None:
            self._arm(self.timeout)
        loop.update_now()
        self.since = loop.now()
        self.watcher.start(readable)
        try:
            failed = waiter.get()
        finally:
            self.watcher.stop()
            self.since = None
        if failed is not None:
            raise failed

    def _arm(self, seconds: float, greenlet=None) -> None:
        """Start the stream's timer; it fails the waits of ``greenlet`` (the stream's,
        the current one when first armed: a re-arm runs in the hub)."""
        if greenlet is None:
            from gevent import getcurrent

            greenlet = getcurrent()
        self.loop.update_now()  # the timer runs from now, not from the loop's turn
        self.timer = self.loop.timer(seconds)
        self.timer.start(self._check, greenlet)

    def _check(self, greenlet) -> None:
        """The stream's timer: fail the wait that lasted the read timeout, else look
        again when the current wait (or a new one) could reach it."""
        self.timer.close()
        self.timer = None
        if self.since is None:  # not waiting for the upstream now (writing to the
            self._arm(self.timeout, greenlet)  # client, say): no wait ends sooner
            return
        waited = self.loop.now() - self.since
        if waited >= self.timeout:
            greenlet.throw(TimeoutError("timed out"))
        else:
            self._arm(self.timeout - waited, greenlet)

    def close(self) -> None:
        """Stop the stream's timer."""
        if self.timer is not None:
            self.timer.close()
            self.timer = None
