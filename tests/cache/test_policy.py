"""What may be cached (policy), the cache key (keys) and the model digest (digest)."""

from __future__ import annotations

import pytest

from ollama_gate.cache.keys import cache_key, scope_of
from ollama_gate.cache.policy import bypass_reason, zero_keep_alive
from ollama_gate.keys import Identity
from tests.cache.test_stage import call, make_app, verdict
from tests.helpers.keys import add_key

MSG = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    "endpoint, payload",
    [
        ("/api/embed", {"model": "m", "input": "a"}),
        ("/api/embeddings", {"model": "m", "prompt": "a"}),
        ("/v1/embeddings", {"model": "m", "input": ["a"]}),
        ("/api/generate", {"model": "m", "prompt": "a", "options": {"temperature": 0}}),
        ("/api/generate", {"model": "m", "prompt": "a", "options": {"seed": 0}}),
        ("/api/generate", {"model": "m", "images": ["AA=="], "options": {"seed": 3}}),
        ("/api/chat", {"model": "m", "messages": MSG, "options": {"seed": 42.0}}),
        ("/v1/chat/completions", {"model": "m", "messages": MSG, "temperature": 0}),
        ("/v1/chat/completions", {"model": "m", "messages": MSG, "seed": 1}),
        ("/v1/completions", {"model": "m", "prompt": "a", "temperature": 0.0}),
        ("/api/embed", {"model": "m", "input": "a", "keep_alive": -1}),
    ],
)
def test_cacheable(endpoint, payload):
    assert bypass_reason(endpoint, payload, "deterministic") == ""


@pytest.mark.parametrize(
    "endpoint, payload, reason",
    [
        ("/api/generate", {"model": "m", "prompt": "a"}, "sampling"),
        (
            "/api/generate",
            {"model": "m", "prompt": "a", "options": {"seed": -1}},
            "samp",
        ),
        ("/api/generate", {"model": "m", "prompt": "a", "options": []}, "sampling"),
        ("/api/generate", {"model": "m", "prompt": "a", "temperature": 0}, "sampling"),
        (
            "/api/generate",
            {"model": "m", "prompt": "a", "options": {"temperature": False}},
            "sampling",
        ),
        (
            "/api/chat",
            {"model": "m", "messages": MSG, "options": {"seed": 1.5}},
            "samp",
        ),
        ("/v1/chat/completions", {"model": "m", "messages": MSG}, "sampling"),
        (
            "/v1/chat/completions",
            {"model": "m", "messages": MSG, "temperature": None},
            "sampling",
        ),
        ("/api/generate", {"model": "m", "options": {"seed": 1}}, "load"),
        ("/api/chat", {"model": "m", "messages": [], "options": {"seed": 1}}, "load"),
        ("/api/embed", {"model": "m", "input": []}, "load"),
        ("/api/embed", {"model": "m", "input": "a", "keep_alive": 0}, "keep_alive"),
        ("/api/embed", {"model": "m", "input": "a", "keep_alive": "0m"}, "keep_alive"),
        ("/api/embed", {"model": "gpt-oss:120b-cloud", "input": "a"}, "cloud"),
        ("/api/embed", {"input": "a"}, "no model"),
        ("/api/embed", {"model": 7, "input": "a"}, "no model"),
        (
            "/api/generate",
            {"model": "m", "prompt": "a", "_debug_render_only": True},
            "render",
        ),
        ("/api/pull", {"model": "m"}, "endpoint"),
        ("/api/ps", {}, "endpoint"),
        ("/api/show", {"model": "m"}, "endpoint"),
        ("/v1/responses", {"model": "m", "input": "a", "temperature": 0}, "endpoint"),
        ("/api/embed", None, "no JSON"),
    ],
)
def test_not_cacheable(endpoint, payload, reason):
    assert reason in bypass_reason(endpoint, payload, "deterministic")


def test_modes():
    unpinned = {"model": "m", "prompt": "a"}
    assert bypass_reason("/api/generate", unpinned, "all") == ""
    loads = {"model": "m", "prompt": "", "options": {"temperature": 0}}
    assert "load" in bypass_reason("/api/generate", loads, "all")
    assert (
        bypass_reason("/api/embed", {"model": "m", "input": "a"}, "off") == "cache off"
    )


@pytest.mark.parametrize("value", [0, 0.0, "0", "0s", "0m", "0.0h", "000ms", " 0 "])
def test_zero_keep_alive(value):
    assert zero_keep_alive(value)


@pytest.mark.parametrize("value", [None, -1, "5m", "-1", "10", False, "0x", 1])
def test_keep_alive_that_keeps(value):
    assert not zero_keep_alive(value)


def identity(user_id=1, patterns=()):
    return Identity(
        1, user_id, "u", "og_x", "", "active", None, model_patterns=patterns
    )


def key_of(payload, digest="d1", who=None, shared=False):
    scope = scope_of(who or identity(), shared)
    return cache_key("/api/embed", payload, digest, scope)


def test_the_key_ignores_framing_residency_spelling_and_name_form():
    base = key_of({"model": "nomic", "input": "a", "options": {"temperature": 0}})
    assert base == key_of(
        {
            "MODEL": "Nomic:latest",
            "Input": "a",
            "options": {"temperature": 0.0},
            "stream": False,
            "keep_alive": "1h",
        }
    )
    assert base == key_of(
        {"model": "library/nomic", "input": "a", "options": {"temperature": 0}}
    )


@pytest.mark.parametrize(
    "change",
    [
        {"input": "b"},
        {"input": ["a"]},
        {"options": {"temperature": 0, "num_ctx": 4096}},
        {"options": {"Temperature": 0}},  # Ollama ignores this spelling: another call
        {"truncate": False},
        {"dimensions": 64},
        {"model": "nomic:v2"},
        {"model": "team/nomic"},
    ],
)
def test_the_key_changes_with_what_changes_the_answer(change):
    base = {"model": "nomic", "input": "a", "options": {"temperature": 0}}
    assert key_of(base) != key_of({**base, **change})


@pytest.mark.parametrize(
    "field,planted",
    [
        ("messages", "me\u00dfages"),  # ß: no "ss" to Go's simple folding
        ("system", "sy\ufb06em"),  # the ligature ﬆ: no "st"
        ("suffix", "su\ufb03x"),  # ﬃ: no "ffi"
    ],
)
def test_a_name_go_ignores_is_no_field_of_the_key(field, planted):
    """Python's casefold read these names as the field; Go skips them, so a call
    that runs the attacker's text must not be filed under the victim's."""
    attacker, victim = ["attacker"], ["victim"]
    planting = {"model": "m", "prompt": "p", field: attacker, planted: victim}
    assert bypass_reason("/api/generate", planting, "all") == ""
    assert key_of(planting) != key_of({"model": "m", "prompt": "p", field: victim})


def test_the_key_reads_go_s_simple_folds_as_one_field():
    """The Kelvin sign is k and the long s is s to Go: the same fields, one key."""
    base = key_of({"model": "nomic", "input": "a", "stream": True})
    assert base == key_of({"model": "nomic", "input": "a", "\u212aeep_alive": "5m"})
    assert base == key_of({"model": "nomic", "input": "a", "\u017fTREAM": False})


@pytest.mark.parametrize(
    "payload",
    [
        {
            "model": "m",
            "prompt": "p",
            "options": {"seed": 1},
            "OPTIONS": {"stop": ["a"]},
        },
        {"model": "m", "messages": ["a"], "MESSAGES": ["b"], "options": {"seed": 1}},
        {
            "model": "m",
            "prompt": "p",
            "options": {"seed": 1},
            "\u017ftream": False,
            "stream": True,
        },
    ],
)
def test_a_field_spelt_twice_is_never_cached(payload):
    """Go merges a repeated map (options) into the first: no key can describe it."""
    assert bypass_reason("/api/generate", payload, "all") == "a field spelt twice"


def test_the_key_changes_with_digest_user_and_allowlist():
    payload = {"model": "nomic", "input": "a"}
    keys = {
        key_of(payload),
        key_of(payload, digest="d2"),
        key_of(payload, who=identity(user_id=2)),
        key_of(payload, who=identity(patterns=("nomic*",))),
        key_of(payload, shared=True),
    }
    assert len(keys) == 5
    # the shared scope: users with one allowlist share, in any order or case
    assert key_of(payload, who=identity(1, ("a*", "B*")), shared=True) == key_of(
        payload, who=identity(2, ("b*", "a*")), shared=True
    )


class Fleet:
    """The routing package's interface, as the cache uses it."""

    def __init__(self):
        self.digests = {"llama3.2": "one"}
        self.asked = []

    def digest(self, model):
        self.asked.append(model)
        if model == "broken":
            raise RuntimeError("no backend answers")
        return self.digests.get(model)


def test_the_fleets_digest_is_used_when_the_gateway_has_one(tmp_path, fake):
    app = make_app(tmp_path, fake)
    fleet = Fleet()
    app.extensions["ollama_gate"].fleet.digest = fleet.digest  # the digest it knows
    key = add_key(app)
    body = {"model": "llama3.2", "prompt": "Why?", "options": {"temperature": 0}}
    body["stream"] = False
    assert [verdict(call(app, key, "/api/generate", body)) for _ in range(2)] == [
        "miss",
        "hit",
    ]
    fleet.digests["llama3.2"] = "two"  # the backend serving it has new weights
    assert verdict(call(app, key, "/api/generate", body)) == "miss"
    del fleet.digests["llama3.2"]  # no backend knows its digest: never cached
    assert verdict(call(app, key, "/api/generate", body)) == "bypass"
    broken = call(app, key, "/api/generate", {**body, "model": "broken"})
    assert verdict(broken) == "bypass"  # a failing lookup is no error of the call
    assert fleet.asked == ["llama3.2"] * 4 + ["broken"]
