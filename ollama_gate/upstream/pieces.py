"""A streamed upstream body as pieces to relay: each piece is every chunk already
received, joined; the last is a ``LastPiece`` when the end of the body came with it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import requests

from .chunked import ChunkDecoder, ChunkError
from .reader import PIECE, socket_reader


def iter_available(resp: requests.Response) -> StreamedPieces | Iterator[bytes]:
    """The streamed body of ``resp`` piece by piece.

    Like ``iter_content(chunk_size=None)`` nothing waits for more than is there: each
    step waits for the socket, then makes one read, which ``ChunkDecoder`` cuts into
    one piece. Failures are raised as requests' exceptions, as ``iter_content`` raises
    them.
    """
    raw = resp.raw
    original = getattr(raw, "_original_response", None)
    fp = getattr(original, "fp", None)
    if not raw.chunked or fp is None or not hasattr(fp, "read1"):
        return resp.iter_content(chunk_size=None)  # not chunked: the plain way
    return StreamedPieces(resp, original)


class StreamedPieces:
    """The pieces of one chunked body, iterated, or pumped in the hub (``pump``)."""

    __slots__ = ("resp", "original", "decoder", "reader", "read", "ended", "left")

    def __init__(self, resp: requests.Response, original):
        self.resp = resp
        self.original = original  # http.client's response (the reader may swap its fp)
        self.decoder = ChunkDecoder()
        self.reader = socket_reader(original)  # one wake-up, one read a chunk
        self.read = self.reader.read if self.reader else original.fp.read1
        self.ended = False
        # what a pump read but left to the next step in the greenlet: the body's end
        # (``(piece, True)``) or a failure
        self.left: tuple[bytes, bool] | BaseException | None = None

    def __iter__(self) -> StreamedPieces:
        return self

    def __next__(self) -> bytes:
        while not self.ended:
            left, self.left = self.left, None
            if isinstance(left, BaseException):
                return self._failed(left)
            if left is None:
                try:
                    data = self.read(PIECE)
                    piece, ended = self._cut(data)
                except (OSError, requests.RequestException) as exc:
                    return self._failed(exc)
            else:
                piece, ended = left
            if ended:
                self._end()
            if piece:
                return piece
        raise StopIteration

    def pump(self, deliver: Callable[[bytes], bool]) -> bool:
        """Hand every piece but the last to ``deliver`` in the hub as it is read (see
        ``SocketReader.pump``), until ``deliver`` returns True (the client could not
        take all of it: True is returned) or the body ends or fails (False: iterating
        gives the last piece or raises, in the greenlet)."""
        if self.reader is None or self.reader.fresh or self.ended or self.left:
            return False
        stopped = False

        def on_data(data: bytes) -> bool:
            nonlocal stopped
            try:
                piece, ended = self._cut(data)
            except requests.RequestException as exc:
                self.left = exc
                return True
            if ended:
                self.left = (piece, True)
                return True
            if piece and deliver(piece):
                stopped = True
                return True
            return False

        try:
            self.reader.pump(on_data)
        except OSError as exc:
            self.left = exc
        return stopped

    def _cut(self, data: bytes) -> tuple[bytes, bool]:
        """The piece ``data`` completes and whether the body ended with it."""
        decoder = self.decoder
        try:
            return decoder.feed(data) if data else (decoder.close(), True)
        except ChunkError as exc:
            raise requests.exceptions.ChunkedEncodingError(str(exc)) from None

    def _end(self) -> None:
        """The body's end: read to the end first, so closing the answer keeps the
        pooled connection for the next call."""
        self.ended = True
        self.original.close()
        self.resp._content_consumed = True
        self.close()

    def _failed(self, exc: BaseException) -> bytes:
        """A failed read, raised as ``iter_content`` would; but when the body's last
        chunk had come and only its end did not, that chunk goes first."""
        error = exc if isinstance(exc, requests.RequestException) else _read_error(exc)
        held, self.decoder.held = self.decoder.held, None
        if held:
            self.left = error  # raised by the next step
            return held
        self.ended = True
        self.close()
        raise error from None

    def close(self) -> None:
        """Stop the stream's read timer."""
        if self.reader is not None:
            self.reader.close()


def _read_error(exc: BaseException) -> requests.RequestException:
    """A failed read of a streamed body, as ``iter_content`` reports it."""
    if isinstance(exc, TimeoutError):
        return requests.ConnectionError(exc)
    return requests.exceptions.ChunkedEncodingError(exc)
