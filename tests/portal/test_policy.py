"""The portal's rules, one function each: why a key past them is refused."""

from __future__ import annotations

from datetime import date

import pytest

from ollama_gate.accounts.policy import (
    Policy,
    expiry_refusal,
    key_allowlist,
    keys_refusal,
    models_refusal,
    pickable,
)

TODAY = date(2026, 12, 7)
ML = Policy(
    max_keys=3,
    max_days=30,
    expiry_required=True,
    picks=("llama3*",),
    bounds=(("llama3*",), ("llama3*", "qwen*")),
    team="ml",
)
OPEN = Policy(5, None, False, (), (), "")


def test_a_fourth_key_when_the_most_is_three():
    assert keys_refusal(ML, 2) is None
    refusal = keys_refusal(ML, 3)
    assert refusal == (
        "You hold 3 active keys, the most team ml allows is 3: revoke one first."
    )
    nobody = Policy(0, None, False, (), (), "ml")
    assert "no keys" in keys_refusal(nobody, 0)


@pytest.mark.parametrize(
    ("policy", "expires", "refused"),
    [
        (ML, None, "Team ml requires an expiry: pick a date up to 2027-01-06."),
        (ML, date(2027, 1, 7), "at most 30 days: pick 2027-01-06 or earlier"),
        (ML, date(2027, 1, 6), None),
        (OPEN, None, None),
        (OPEN, date(2100, 1, 1), None),
    ],
)
def test_expiry_rules(policy, expires, refused):
    refusal = expiry_refusal(policy, expires, TODAY)
    if refused is None:
        assert refusal is None
    else:
        assert refused in refusal


def test_a_model_outside_the_teams_is_refused():
    assert models_refusal(ML, ["llama3.2", "llama3:8b"]) is None
    refusal = models_refusal(ML, ["llama3.2", "qwen2.5:7b", "mistral"])
    assert refusal.startswith("qwen2.5:7b, mistral: not among the models team ml")
    assert models_refusal(OPEN, ["anything"]) is None
    names = ["llama3.2", "qwen2.5:7b", "phi3:mini"]
    assert pickable(ML, names) == ["llama3.2"]
    assert pickable(OPEN, names) == names


def test_a_key_takes_the_picks_else_the_portals_own_patterns():
    assert key_allowlist(ML, ["llama3.2"]) == "llama3.2"
    assert key_allowlist(ML, []) == "llama3*"
    assert key_allowlist(OPEN, []) is None
