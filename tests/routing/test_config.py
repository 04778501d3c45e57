"""The fleet's settings parsed (or refused with the name at fault), versions compared
as versions, and the health state's rules (backoff, every backend down is not
healthy)."""

from __future__ import annotations

import pytest

from ollama_gate.routing.backends import BackendConfig, BackendState, parse_backends
from ollama_gate.routing.fleet import Fleet
from ollama_gate.routing.health import BACKOFF_STEPS, mark_failed
from ollama_gate.routing.rules import parse_aliases, parse_routes
from ollama_gate.routing.versions import lowest_version, version_key


def test_versions_compare_as_versions_not_strings():
    assert version_key("0.10.0") > version_key("0.9.6")  # "0.10.0" < "0.9.6" as text
    assert version_key("0.10") == version_key("0.10.0")
    assert version_key("0.10.0-rc1") < version_key("0.10.0")
    assert version_key("v0.12.3") == version_key("0.12.3")
    assert lowest_version(["0.10.1", "0.9.6", "0.12.0"]) == "0.9.6"
    assert lowest_version(["", "0.3.1"]) == "0.3.1"
    assert lowest_version([]) is None


def test_backends_aliases_and_routes_parse_or_say_why():
    assert [(b.name, b.url) for b in parse_backends(["http://a:11434/"])] == [
        ("a:11434", "http://a:11434")
    ]
    assert [b.name for b in parse_backends(["gpu1=http://a:1", "gpu2=https://b"])] == [
        "gpu1",
        "gpu2",
    ]
    with pytest.raises(ValueError, match="http"):
        parse_backends(["gpu1=ftp://a"])
    assert dict(parse_aliases(["GPT-4o=llama3.2"])) == {"gpt-4o:latest": "llama3.2"}
    assert parse_aliases(["GPT-4o=llama3.2"]).written == {"gpt-4o:latest": "GPT-4o"}
    with pytest.raises(ValueError, match="alias=model"):
        parse_aliases(["nothing"])
    assert parse_routes(["llama3:70b=gpu1|gpu2"]) == {"llama3:70b": ["gpu1", "gpu2"]}
    with pytest.raises(ValueError, match="model=backend"):
        parse_routes(["llama3="])


def test_a_malformed_setting_stops_the_start_with_its_name():
    settings = {"BACKENDS": ["http://a:1"], "ALIASES": ["broken"], "ROUTES": []}
    with pytest.raises(RuntimeError, match="ALIASES"):
        Fleet(
            {
                **settings,
                "CONNECT_TIMEOUT": 1,
                "READ_TIMEOUT": 1,
                "POOL_SIZE": 1,
                "PROBE_TIMEOUT": 1,
            }
        )


def test_a_down_backend_is_checked_less_often_up_to_a_cap():
    state = BackendState(BackendConfig(name="gpu1", url="http://a:1"), upstream=None)
    waits = []
    for _ in range(10):
        mark_failed(state, "connection refused", 1.0)
        waits.append(round(state.next_check - state.checked_at, 3))
    assert waits[:4] == [1.0, 2.0, 4.0, BACKOFF_STEPS]
    assert max(waits) == BACKOFF_STEPS
    assert state.healthy is False and state.last_error == "connection refused"


def test_every_backend_down_is_not_healthy():
    fleet = Fleet(
        {
            "BACKENDS": ["a=http://a:1", "b=http://b:1"],
            "ALIASES": [],
            "ROUTES": [],
            "CONNECT_TIMEOUT": 1,
            "READ_TIMEOUT": 1,
            "POOL_SIZE": 1,
            "DEFAULT_BACKEND": "",
            "PROBE_TIMEOUT": 1,
        }
    )
    assert not fleet.any_healthy()  # never checked is not healthy either
    for state in fleet.backends():
        mark_failed(state, "refused", 1.0)
    assert not fleet.any_healthy()
    fleet.get("b").healthy = True
    assert fleet.any_healthy()
