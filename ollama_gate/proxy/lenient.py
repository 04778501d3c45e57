"""Request JSON that Python's parser refuses but Ollama's Go decoder runs.

Go decodes numbers of any length into fields it ignores, and nests up to 10,000
levels; Python's ``json`` stops at 4,300 digits and at its recursion limit. Such a
call still runs upstream, so the gateway must still know its model and record it:
``parse_lenient`` keeps huge numbers as their text, and ``top_level_string`` finds a
top-level field without recursion when nothing else can parse the body.
Bodies past ``OFF_LOOP_BYTES`` are parsed in a thread (``offload.py``).
"""

from __future__ import annotations

import json
import re

from ..gofields import same_field

OFF_LOOP_BYTES = 1024 * 1024
MAX_DIGITS = 4000  # below Python's int limit (4,300 digits)
_SPECIAL = re.compile(r'["{}\[\],]')


def _int(text: str):
    """An integer, or its text when Python would refuse to build it."""
    return int(text) if len(text) <= MAX_DIGITS else text


def parse_lenient(data: bytes):
    """The body parsed with huge integers kept as text (raises like ``json.loads``)."""
    return json.loads(data, parse_int=_int)


def top_level_string(data: bytes, name: str, limit: int = 200) -> str | None:
    """The string value of top-level field ``name`` (names read as Go does, last wins),
    found by scanning, not parsing; None when absent or not a string."""
    text = data.decode("utf-8", "replace")
    depth, i, n, found = 0, 0, len(text), None
    expect_key = False
    while i < n:
        hit = _SPECIAL.search(text, i)  # jump over numbers, names and spaces
        if hit is None:
            break
        i = hit.start()
        ch = text[i]
        if ch == '"':
            end = _string_end(text, i)
            if depth == 1 and expect_key:
                key = _decode(text[i : end + 1])
                j = _skip_space(text, end + 1)
                if j < n and text[j] == ":":
                    k = _skip_space(text, j + 1)
                    if key is not None and same_field(key, name):
                        if k < n and text[k] == '"':
                            value = _decode(text[k : _string_end(text, k) + 1])
                            found = value[:limit] if isinstance(value, str) else None
                        else:
                            found = None  # not a string: as if absent
                    i, expect_key = k, False
                    continue
            i = end + 1
            continue
        if ch in "{[":
            depth += 1
            expect_key = ch == "{" and depth == 1
        elif ch in "}]":
            depth -= 1
        elif ch == "," and depth == 1:
            expect_key = True
        i += 1
    return found


def _string_end(text: str, start: int) -> int:
    """The index of the quote that closes the string opened at ``start``."""
    i = start + 1
    while True:
        i = text.find('"', i)
        if i < 0:
            return len(text) - 1
        backslashes = 0
        while text[i - 1 - backslashes] == "\\":
            backslashes += 1
        if backslashes % 2 == 0:
            return i
        i += 1


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def _decode(literal: str):
    try:
        return json.loads(literal)
    except ValueError:
        return None
