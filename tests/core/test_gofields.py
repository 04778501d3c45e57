"""Field names read as Ollama's Go decoder reads them (``ollama_gate.gofields``)."""

from __future__ import annotations

import sys

import pytest

from ollama_gate import gofields
from ollama_gate.gofields import fold_name, go_field, go_view, same_field, spelt_twice

# (JSON name, Go field, does Go set the field from it?)
MATCHES = [
    ("messages", "messages", True),
    ("MESSAGES", "messages", True),
    ("MeSsAgEs", "messages", True),
    ("Model", "model", True),
    ("\u212aeep_alive", "keep_alive", True),  # Kelvin sign: simple fold of k
    ("\u017fystem", "system", True),  # long s: simple fold of s
    ("\u017fTREAM", "stream", True),
    ("me\u00dfages", "messages", False),  # ß is no "ss" to Go (full folding only)
    ("mess\u1e9eges", "messages", False),  # nor is capital ẞ
    ("sy\ufb06em", "system", False),  # the ligature ﬆ is no "st"
    ("su\ufb03x", "suffix", False),  # nor ﬃ "ffi"
    ("\u0130mages", "images", False),  # İ has no simple fold to i
    ("\u0131mages", "images", False),  # nor dotless ı
    ("model ", "model", False),
    ("mode", "model", False),
    (1, "model", False),  # a name that is no string sets nothing
    (None, "model", False),
]


@pytest.mark.parametrize("key,name,expected", MATCHES)
def test_a_name_sets_a_field_as_in_go(key, name, expected):
    assert same_field(key, name) is expected
    assert (go_field({key: "x"}, name) == "x") is expected


# Go's unicode.SimpleFold orbits (its letter_test.go): every member folds alike
ORBITS = ["Aa", "\u03b4\u0394", "Kk\u212a", "Ss\u017f", "\u03c1\u03f1\u03a1"]
ORBITS += [
    "\u0345\u0399\u03b9\u1fbe",
    "\u00df\u1e9e",
    "\u13b0\uab80",
    "\u03c3\u03c2\u03a3",
]


@pytest.mark.parametrize("orbit", ORBITS)
def test_an_orbit_folds_to_one_name(orbit):
    assert len({fold_name(c) for c in orbit}) == 1


@pytest.mark.parametrize(
    "alone,look_alike",
    [
        ("\u0130", "I"),
        ("\u0131", "i"),
        ("\ufb06", "st"),
        ("\ufb03", "ffi"),
        ("\u00df", "ss"),
    ],
)
def test_no_simple_fold_joins_these_to_ascii(alone, look_alike):
    assert fold_name(alone) != fold_name(look_alike)


def test_ascii_folds_to_upper_case_and_long_s_to_s():
    assert fold_name("keep_alive") == "KEEP_ALIVE"
    assert fold_name("\u212a\u017f") == "KS"  # the orbit's smallest: ASCII upper case


def test_the_last_spelling_wins():
    payload = {"messages": ["decoy"], "Messages": ["middle"], "MESSAGES": ["ran"]}
    assert go_field(payload, "messages") == ["ran"]
    assert go_field({"model": "a", "\u212aEEP": 1, "m\u00dfodel": "b"}, "model") == "a"
    assert go_field({"stream": False, "\u017ftream": True}, "stream") is True


def test_go_view_reads_named_fields_last_wins():
    payload = {"PROMPT": "first", "system": "s", "prompt": "second", "sy\ufb06em": "x"}
    assert go_view(payload, ("prompt", "system", "suffix")) == {
        "prompt": "second",
        "system": "s",
    }
    assert go_view(["not", "an", "object"], ("prompt",)) == {}
    assert go_field("text", "prompt", "none") == "none"


def test_a_field_spelt_twice_is_seen():
    assert spelt_twice({"options": {}, "OPTIONS": {}})
    assert spelt_twice({"stream": True, "\u017ftream": False})
    assert not spelt_twice({"messages": [], "me\u00dfages": []})  # two fields to Go
    assert not spelt_twice({"model": "m", "prompt": "p"})


def test_a_lone_surrogate_is_the_replacement_character():
    assert fold_name("a\ud800") == fold_name("a\ufffd")


def test_no_character_past_the_table_has_a_case():
    start = gofields._CASED_BELOW
    assert all(
        chr(cp).casefold() == chr(cp) and chr(cp).upper() == chr(cp)
        for cp in range(start, sys.maxunicode + 1)
        if not 0xD800 <= cp <= 0xDFFF
    )
