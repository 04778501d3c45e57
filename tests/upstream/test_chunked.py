"""The chunked-body decoder on bytes alone: how reads are cut into pieces, the end,
extensions, trailers, and bodies that are cut or malformed."""

from __future__ import annotations

import pytest

from ollama_gate.upstream.chunked import ChunkDecoder, ChunkError, LastPiece

LINES = [b'{"response":"a"}\n', b'{"response":"bc"}\n', b'{"done":true}\n']
END = b"0\r\n\r\n"


def framed(data: bytes, ext: bytes = b"") -> bytes:
    """``data`` as one chunk of a chunked body."""
    return b"%x%s\r\n%s\r\n" % (len(data), ext, data)


STREAM = b"".join(framed(line) for line in LINES) + END
# where each chunk's framing ends in STREAM
CHUNK_ENDS = [len(b"".join(framed(line) for line in LINES[: i + 1])) for i in range(3)]


def feed_all(decoder: ChunkDecoder, reads: list[bytes]) -> list[tuple[bytes, bool]]:
    """What the decoder answers to each read, in order."""
    return [decoder.feed(data) for data in reads]


def test_one_chunk_is_one_plain_piece():
    assert ChunkDecoder().feed(framed(b"one\n")) == (b"one\n", False)


def test_every_chunk_of_one_read_leaves_in_one_piece():
    """NDJSON lines that arrived together are one write to the client, not three."""
    piece, ended = ChunkDecoder().feed(b"".join(framed(line) for line in LINES))
    assert (piece, ended) == (b"".join(LINES), False)
    assert type(piece) is bytes  # not the last: the end has not come


@pytest.mark.parametrize("cut", range(1, len(STREAM)))
def test_a_body_split_anywhere_reads_the_same(cut):
    """Two reads split at any byte: the first piece is every chunk complete in the
    first read, the second the rest, marked last since the end came with it (all of
    it when the first read stopped between the zero chunk and the end)."""
    decoder = ChunkDecoder()
    first, second = feed_all(decoder, [STREAM[:cut], STREAM[cut:]])
    done = sum(1 for end in CHUNK_ENDS if end <= cut)
    if cut >= CHUNK_ENDS[-1] + len(b"0\r\n"):
        done = 0  # the zero chunk came first: every chunk waits to leave marked last
    assert first == (b"".join(LINES[:done]), False)
    assert second == (b"".join(LINES[done:]), True)
    assert type(second[0]) is (LastPiece if done < 3 else bytes)


def test_a_body_fed_byte_by_byte():
    """Each chunk leaves when its last byte (the CRLF after it) is there; the body ends
    with the last byte only."""
    answers = feed_all(ChunkDecoder(), [STREAM[i : i + 1] for i in range(len(STREAM))])
    pieces = [(i, piece) for i, (piece, _) in enumerate(answers) if piece]
    assert pieces == [
        (end - 1, line) for end, line in zip(CHUNK_ENDS, LINES, strict=True)
    ]
    assert [ended for _, ended in answers] == [False] * (len(STREAM) - 1) + [True]


@pytest.mark.parametrize("cut", range(1, len(b"1a;x=y\r\n")))
def test_a_size_line_split_across_reads(cut):
    """A two-digit size (0x1a bytes) read in two parts is not taken for its first
    digit."""
    data = b"abcdefghijklmnopqrstuvwxyz"
    body = framed(data, b";x=y")
    decoder = ChunkDecoder()
    assert decoder.feed(body[:cut]) == (b"", False)
    assert decoder.feed(body[cut:]) == (data, False)


@pytest.mark.parametrize(
    "ext", [b";name=value", b";a", b';a="quoted;semi"', b";a=1;b=2", b"  ;x"]
)
def test_chunk_extensions_are_ignored(ext):
    stream = framed(b"one\n", ext) + b"0" + ext + b"\r\n\r\n"
    piece, ended = ChunkDecoder().feed(stream)
    assert (piece, ended) == (b"one\n", True) and type(piece) is LastPiece


TRAILED = framed(b"one\n") + b"0\r\nX-Checksum: abc\r\nX-Other: d\r\n\r\n"


def test_trailers_after_the_last_chunk_are_read_past():
    piece, ended = ChunkDecoder().feed(TRAILED)
    assert (piece, ended) == (b"one\n", True) and type(piece) is LastPiece


@pytest.mark.parametrize("cut", range(len(framed(b"one\n") + b"0\r\n"), len(TRAILED)))
def test_trailers_split_across_reads_hold_the_last_piece(cut):
    """The zero chunk came, the trailers' end did not: the piece waits for it, so it
    can still leave marked last (it is ``held`` should the read fail)."""
    decoder = ChunkDecoder()
    assert decoder.feed(TRAILED[:cut]) == (b"", False)
    assert decoder.held == b"one\n"
    piece, ended = decoder.feed(TRAILED[cut:])
    assert (piece, ended) == (b"one\n", True) and type(piece) is LastPiece


def test_the_end_that_comes_with_data_marks_the_piece_last():
    decoder = ChunkDecoder()
    first, last = feed_all(decoder, [framed(b"one\n"), framed(b"two\n") + END])
    assert first == (b"one\n", False) and type(first[0]) is bytes
    assert last == (b"two\n", True) and type(last[0]) is LastPiece


def test_the_end_that_comes_alone_is_no_piece():
    decoder = ChunkDecoder()
    answers = feed_all(decoder, [framed(b"one\n"), END])
    assert answers == [(b"one\n", False), (b"", True)]
    assert type(answers[0][0]) is bytes


def test_an_empty_body():
    assert ChunkDecoder().feed(END) == (b"", True)


@pytest.mark.parametrize("cut", range(1, len(framed(LINES[1]))))
def test_a_stream_cut_mid_chunk(cut):
    """The chunks before the cut leave; the cut one never does, and when the stream
    closes the decoder says the end never came."""
    decoder = ChunkDecoder()
    stream = framed(LINES[0]) + framed(LINES[1])[:cut]
    assert decoder.feed(stream) == (LINES[0], False)
    assert decoder.held is None
    with pytest.raises(ChunkError, match="closed"):
        decoder.close()


def test_a_stream_closed_inside_the_trailers_has_ended():
    """Only the trailer section was left: read as the end, as http.client reads it."""
    decoder = ChunkDecoder()
    assert decoder.feed(framed(b"one\n") + b"0\r\nX-Checksum: a") == (b"", False)
    piece = decoder.close()
    assert piece == b"one\n" and type(piece) is LastPiece


@pytest.mark.parametrize(
    "line", [b"zz", b"", b"-", b"4 4", b"\xff", b";ext", b"g"], ids=repr
)
def test_a_bad_size_line_raises(line):
    with pytest.raises(ChunkError, match="bad chunk"):
        ChunkDecoder().feed(line + b"\r\nabcd\r\n")


def test_a_bad_size_line_after_good_chunks_raises():
    with pytest.raises(ChunkError):
        ChunkDecoder().feed(framed(b"one\n") + b"xyz\r\n")
