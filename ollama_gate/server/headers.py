"""HTTP header sections read as ``http.client`` reads them, without its email parser for
plain lines.

``http.client.parse_headers`` (which pywsgi uses for requests, and http.client for the
upstream's answers) hands every header section to the email parser: 25-40 us for a
client's usual eight headers, 15 us for an upstream answer's three, a twentieth of a
whole call. ``parse_headers`` reads the lines with the same limits and builds the same
message from plain ``Name: value`` lines itself; a section with any other line (a folded
line, a bare CR, a space before the colon, an empty name) goes to the email parser
whole, so the result is the same either way (tests/server/test_server.py compares them).
"""

from __future__ import annotations

import email.parser
import re
from email.message import Message
from http import client

# http.client's limits on a header section.
MAX_HEADER_LINE = 65536
MAX_HEADERS = 100
# One plain header line: a name of the characters the email parser accepts in one, a
# colon, the value, no bare CR.
PLAIN_HEADER = re.compile(rb"([!-9;-~]+):[ \t]*([^\r\n]*)\r?\n")


def parse_headers(fp, _class: type[Message] = client.HTTPMessage) -> Message:
    """``http.client.parse_headers``: the header section read from ``fp``, as
    ``_class``; ``LineTooLong`` or ``HTTPException`` past the limits."""
    lines = []
    while True:
        line = fp.readline(MAX_HEADER_LINE + 1)
        if len(line) > MAX_HEADER_LINE:
            raise client.LineTooLong("header line")
        lines.append(line)
        if len(lines) > MAX_HEADERS:
            raise client.HTTPException(f"got more than {MAX_HEADERS} headers")
        if line in (b"\r\n", b"\n", b""):
            break
    message = _class()
    for line in lines[:-1]:
        plain = PLAIN_HEADER.fullmatch(line)
        if plain is None:
            text = b"".join(lines).decode("iso-8859-1")
            parsed = email.parser.Parser(_class=_class).parsestr(text)
            # the email parser reads a bare CR as a line end; HTTP must refuse it
            # (a smuggling vector), so the server gets told (``limits.py``)
            parsed.bare_cr = any(b"\r" in _content(line) for line in lines)
            # and it reads "Name : value" as the end of the headers, dropping it and
            # every header after it; RFC 9112 5.1 says refuse it with 400
            parsed.bad_line = next(filter(None, map(line_problem, lines[:-1])), None)
            return parsed
        message.set_raw(plain[1].decode("latin-1"), plain[2].decode("latin-1"))
    return message


def line_problem(line: bytes) -> str | None:
    """What makes a header line other than ``Name: value``, or None (a folded line's
    continuation is left to the email parser, as http.client leaves it)."""
    content = _content(line)
    if content[:1] in (b" ", b"\t"):
        return None
    name, colon, _ = content.partition(b":")
    if not colon:
        return "a header line without a colon"
    if not name.strip(b" \t"):
        return "a header without a name"
    if name != name.rstrip(b" \t"):
        return "whitespace between a header's name and its colon"
    if b" " in name or b"\t" in name:  # read as the end of the headers, too
        return "whitespace in a header's name"
    return None


def _content(line: bytes) -> bytes:
    """A header line without its line end (CRLF or LF)."""
    if line.endswith(b"\r\n"):
        return line[:-2]
    return line[:-1] if line.endswith(b"\n") else line
