"""HTTP/1.1 chunked bodies decoded from bytes as they arrive, with no socket: the relay
reads, this cuts.

Each ``feed`` hands back every chunk complete so far, joined into one piece: when
several chunks (NDJSON lines, SSE events) arrived in one read they leave in one piece,
so the worker makes one write to the client instead of one per line, which was the
largest cost of a busy stream. Chunk extensions (``;name=value``) are ignored and the
trailer section is read past, as http.client does.
"""

from __future__ import annotations


class LastPiece(bytes):
    """The final piece of a streamed body. A WSGI server that knows the mark (the
    serving layer's handler) sends the end of its chunked body in the same write; to
    any other it is plain bytes."""

    ends_body = True


class ChunkError(ValueError):
    """A chunked body that cannot be read: a bad size line, or cut before its end."""


class ChunkDecoder:
    """One chunked body, fed the bytes read from the upstream in order."""

    __slots__ = ("_rest", "held")

    def __init__(self):
        self._rest = b""  # the bytes read past the last complete chunk
        # Once the last (zero) chunk came: the chunks before it, joined, held back until
        # the trailer section ends so that they leave as the ``LastPiece``.
        self.held: bytes | None = None

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """The piece ``data`` completes (every complete chunk joined; ``b""`` if none)
        and whether the body ended with it; the piece is a ``LastPiece`` then."""
        if not self._rest and self.held is None:  # a paced stream: one whole chunk
            eol = data.find(b"\r\n")
            end = len(data) - 2
            if 0 < eol < 9:  # a bare size line (extensions take the long way)
                try:
                    size = int(data[:eol], 16)
                except ValueError:
                    size = -1
                if size > 0 and eol + 2 + size == end:
                    return data[eol + 2 : end], False
        buf = self._rest + data if self._rest else data
        if self.held is not None:
            return self._trailers(buf)
        pos, pieces = 0, []
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                break
            try:
                size = int(buf[pos:eol].split(b";", 1)[0], 16)
            except ValueError:
                raise ChunkError("bad chunk") from None
            if size == 0:
                self.held = pieces[0] if len(pieces) == 1 else b"".join(pieces)
                return self._trailers(buf[eol + 2 :])
            end = eol + 2 + size
            if len(buf) < end + 2:
                break
            pieces.append(buf[eol + 2 : end])
            pos = end + 2
        self._rest = buf[pos:] if pos < len(buf) else b""
        if not pieces:
            return b"", False
        return (pieces[0] if len(pieces) == 1 else b"".join(pieces)), False

    def close(self) -> bytes:
        """The stream closed: the last piece if only the trailer section was left
        (http.client reads that as the end too); raises ``ChunkError`` otherwise."""
        if self.held is None:
            raise ChunkError("upstream closed the stream")
        return LastPiece(self.held) if self.held else b""

    def _trailers(self, rest: bytes) -> tuple[bytes, bool]:
        """Past the zero chunk: the held piece once the trailer section has ended."""
        if rest.startswith(b"\r\n") or b"\r\n\r\n" in rest:
            self._rest = b""
            return (LastPiece(self.held) if self.held else b""), True
        self._rest = rest
        return b"", False
