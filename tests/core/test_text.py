"""printable: names safe to print on an admin's terminal, and still readable."""

from __future__ import annotations

import ast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ollama_gate.text import printable


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("alice", "alice"),
        ("ünï 名前 😀 a-b_c.d", "ünï 名前 😀 a-b_c.d"),  # letters of any script stay
        ("two words", "two words"),
        ("\x1b[2J\x1b[31mroot", "\\x1b[2J\\x1b[31mroot"),  # clear screen, colour
        ("\x1b]0;owned\x07", "\\x1b]0;owned\\x07"),  # window title
        ("\x9b31m", "\\x9b31m"),  # the one-byte CSI some terminals obey
        ("bob\r\nalice  active", "bob\\r\\nalice  active"),  # a forged line
        ("a\tb\x00c\x7f", "a\\tb\\x00c\\x7f"),
        ("\u202etxt.exe", "\\u202etxt.exe"),  # right-to-left override
        ("a\u2066b\u2069", "a\\u2066b\\u2069"),  # bidi isolates
        ("zero\u200bwidth", "zero\\u200bwidth"),
        ("line\u2028sep\u2029", "line\\u2028sep\\u2029"),
        ("half \ud83d", "half \\ud83d"),  # a lone surrogate cannot even be encoded
        ("tag\U000e0041", "tag\\U000e0041"),  # an invisible tag character
        ("back\\slash", "back\\\\slash"),  # so an escape is never ambiguous
        ("", ""),
    ],
)
def test_printable(text, shown):
    assert printable(text) == shown


def test_output_is_plain_and_encodable():
    out = printable("".join(map(chr, range(0x00, 0x250))) + "\u202e\ud800\u2028")
    assert all(ch.isprintable() for ch in out)
    out.encode("utf-8")  # no lone surrogate left to crash the terminal's encoder


@given(st.text())
def test_printable_reads_back_as_the_name(text):
    """Every output is printable and, read as a Python string, gives the input back."""
    out = printable(text)
    assert out.isprintable()
    assert ast.literal_eval('"' + out.replace('"', '\\"') + '"') == text
