"""Field names read the way Ollama's Go decoder (``encoding/json``) reads them: the one
place that matches a request's names to the fields Ollama runs.

Go matches a JSON name to a struct field when it is equal, or equal under ``foldName``
(``encoding/json/fold.go``): ASCII letters upper-cased, every other character replaced
by the smallest of its ``unicode.SimpleFold`` orbit. That is *simple* folding, one
character to one: the Kelvin sign ``K`` is ``k`` and the long ``ſ`` is ``s``, but ``ß``
is not ``ss`` and the ligatures ``ﬆ`` and ``ﬃ`` are no ``st`` or ``ffi`` (Python's
``str.casefold`` maps all of these: it must never name a field). When several names of
one object match a field, the last one wins.
"""

from __future__ import annotations

import functools
from typing import Any

_CASED_BELOW = 0x1F000  # no character at or past this has a case (tests check it)
_min_of: dict[str, str] | None = None  # simple fold -> smallest char of its orbit


def _simple_fold(ch: str) -> str:
    """Unicode's simple case folding of one character (CaseFolding.txt, C and S)."""
    full = ch.casefold()
    if len(full) == 1:
        return full  # a C mapping, or none
    # an F mapping (ß -> ss): its S mapping, where one exists, is the lower case
    # (ẞ -> ß, ᾈ -> ᾀ); otherwise (ß, ﬆ, İ) the character folds only to itself
    lower = ch.lower()
    return lower if len(lower) == 1 else ch


def _orbits() -> dict[str, str]:
    global _min_of
    if _min_of is None:
        table: dict[str, str] = {}
        for cp in range(_CASED_BELOW):
            ch = chr(cp)
            fold = _simple_fold(ch)
            if fold != ch:
                table[fold] = min(table.get(fold, fold), ch)
        _min_of = table
    return _min_of


@functools.lru_cache(maxsize=4096)
def _fold_rune(ch: str) -> str:
    """Go's ``foldRune``: the smallest character of ``ch``'s simple-fold orbit."""
    if "\ud800" <= ch <= "\udfff":
        return "\ufffd"  # Go decodes a lone surrogate escape as U+FFFD
    fold = _simple_fold(ch)
    return _orbits().get(fold, fold)


_folded: dict[str, str] = {}  # names seen -> their folds (bounded: hostile names)
_FOLDED_MAX = 4096


def fold_name(name: str) -> str:
    """Go's ``foldName``: two names match a field alike iff their folds are equal."""
    folded = _folded.get(name)
    if folded is None:
        if name.isascii():
            folded = name.upper()  # Go upper-cases a-z only, as str.upper on ASCII
        else:
            folded = "".join(c.upper() if c.isascii() else _fold_rune(c) for c in name)
        if len(_folded) < _FOLDED_MAX:
            _folded[name] = folded
    return folded


def same_field(key: Any, name: str) -> bool:
    """True when JSON name ``key`` sets Go field ``name`` (non-strings never do)."""
    return key == name or (isinstance(key, str) and fold_name(key) == fold_name(name))


def spellings(obj: dict, name: str) -> list:
    """Every name of ``obj`` that sets field ``name``, in order."""
    return [key for key in obj if same_field(key, name)]


def go_field(obj: Any, name: str, default: Any = None) -> Any:
    """The value Go decodes into field ``name`` of object ``obj``: the last matching
    name's (``default`` when none matches or ``obj`` is no object)."""
    if not isinstance(obj, dict):
        return default
    value, target, known = default, fold_name(name), _folded.get
    for key, item in obj.items():  # the hot path: one dict lookup a name
        if key == name or (
            type(key) is str and (known(key) or fold_name(key)) == target
        ):
            value = item  # a later spelling overrides an earlier one, as in Go
    return value


def go_view(obj: Any, names: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """``{name: value}`` for each of ``names`` that ``obj`` sets, as Go reads them."""
    if not isinstance(obj, dict):
        return {}
    folds = {fold_name(name): name for name in names}
    view: dict[str, Any] = {}
    for key, item in obj.items():
        if isinstance(key, str):
            name = folds.get(fold_name(key))
            if name is not None:
                view[name] = item
    return {name: view[name] for name in names if name in view}


def without(obj: dict, name: str) -> dict:
    """A copy of ``obj`` without any name that sets field ``name``."""
    return {k: v for k, v in obj.items() if not same_field(k, name)}


def spelt_twice(obj: Any) -> bool:
    """True when two names of object ``obj`` set one field: Go then merges some values
    (maps, structs) rather than keeping the last, which no single view describes."""
    if not isinstance(obj, dict):
        return False
    folds = {fold_name(k) if isinstance(k, str) else k for k in obj}
    return len(folds) != len(obj)
