"""Model names read as Ollama reads them (ollama_gate/model_names.py): the one split
that routing, the scheduler's policies, the allowlists and the cache key share."""

from __future__ import annotations

import pytest

from ollama_gate.limits.access import model_allowed
from ollama_gate.model_names import canonical, full_name, name_parts


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("llama3", "llama3:latest"),
        ("Llama3:Latest", "llama3:latest"),
        ("registry.ollama.ai/library/llama3:8b", "llama3:8b"),
        ("library/llama3", "llama3:latest"),
        ("registry.ollama.ai/team/model", "team/model:latest"),
        ("hf.co/bartowski/Qwen:Q4_K_M", "hf.co/bartowski/qwen:q4_k_m"),
        ("hf.co/library/x", "hf.co/library/x:latest"),  # another host's "library"
        ("myhost:5000/team/model", "myhost:5000/team/model:latest"),
        ("llama3@sha256:ABC", "llama3:latest@sha256:abc"),
        (" https://registry.ollama.ai/library/llama3 ", "llama3:latest"),  # a scheme
        ("team\\model:7b", "team/model:7b"),  # Windows' separator
        ("a/b/c/d", "a/b/c/d:latest"),  # too many parts: kept, never matched
    ],
)
def test_canonical_names(name, expected):
    assert canonical(name) == expected


def test_a_tag_is_never_taken_for_another():
    assert canonical("llama3:70b") != canonical("llama3:8b")
    assert canonical("llama3") != canonical("llama3:8b")


def test_name_parts_fill_defaults_and_keep_registry_port():
    assert name_parts("myreg:5000/team/model") == (
        ["myreg:5000", "team", "model"],
        None,
    )
    assert name_parts("library/llama3.2:1B") == (
        ["registry.ollama.ai", "library", "llama3.2"],
        "1b",
    )
    assert name_parts("x/y/z/w")[0] == ["x", "y", "z", "w"]  # no pattern matches it


def test_full_names_fill_every_part():
    assert full_name("Llama3.2") == "registry.ollama.ai/library/llama3.2:latest"
    assert full_name("hf.co/team/m:q4") == "hf.co/team/m:q4"


@pytest.mark.parametrize(
    "name",
    ["llama3", "LLAMA3:latest", "library/llama3", "registry.ollama.ai/library/llama3"],
)
def test_one_model_is_one_model_everywhere(name):
    """Routing, the cache and the allowlists agree on what one model is: the spellings
    Ollama takes for one model route as one, key the cache as one, and an allowlist
    pattern for it allows them all."""
    assert canonical(name) == "llama3:latest"
    assert full_name(name) == "registry.ollama.ai/library/llama3:latest"
    assert canonical(full_name(name)) == canonical(name)
    assert model_allowed(name, ("llama3",)) and model_allowed(name, ("llama3:latest",))
    assert not model_allowed(name, ("llama3:8b",))


def test_a_pinned_digest_matches_no_allowlist_pattern():
    """The digest, not the name before it, picks the model: a pinned name is refused
    by an allowlist rather than let a digest of another model through."""
    assert not model_allowed("llama3@sha256:abc", ("llama3", "llama3*"))
    assert model_allowed("llama3@sha256:abc", ())  # no allowlist: every model
