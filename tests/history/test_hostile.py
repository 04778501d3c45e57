"""Every call gets a history record, whatever its body: deep nesting, huge numbers,
bodies no parser here can read (issue 16)."""

from __future__ import annotations

import pytest

from tests.history.test_record import auth, one

HEAD = b'{"model": "llama3.2", "prompt": "hi there", "stream": false, "x": '


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("depth", [300, 900])
def test_a_deeply_nested_ignored_field_keeps_the_record(app, client, key, depth):
    """Hundreds deep: parsed, recorded with model and prompt, the depth cut."""
    raw = HEAD + nested(depth) + b"}"
    headers = auth(key) | {"Content-Type": "application/json"}
    client.post("/api/generate", data=raw, headers=headers).get_data()
    row = one(app)
    assert row.model == "llama3.2" and row.prompt_text == "hi there"
    assert "nested deeper than" in str(row.request["x"])


def test_nesting_past_the_parser_is_kept_raw_and_marked(app, client, key):
    raw = HEAD + nested(20_000) + b"}"
    headers = auth(key) | {"Content-Type": "application/json"}
    client.post("/api/generate", data=raw, headers=headers).get_data()
    row = one(app)
    assert row.model == "llama3.2"  # found by scanning the top level
    assert row.request["unparsed"] is True
    assert row.request["raw"].startswith('{"model": "llama3.2"')
    assert len(row.request["raw"]) <= 64 * 1024
    assert "hi there" in row.prompt_text  # the raw text is searchable


def test_a_5000_digit_number_keeps_model_and_prompt(app, client, key):
    raw = HEAD + b"1" * 5000 + b"}"
    headers = auth(key) | {"Content-Type": "application/json"}
    client.post("/api/generate", data=raw, headers=headers).get_data()
    row = one(app)
    assert row.model == "llama3.2" and row.prompt_text == "hi there"
    assert row.request["x"].startswith("1111")  # kept as its text


def test_a_record_that_cannot_be_built_still_leaves_a_row(
    app, client, key, monkeypatch
):
    import ollama_gate.history.record as record

    def broken(payload):
        raise RuntimeError("odd request")

    monkeypatch.setattr(record, "strip_images", broken)
    headers = auth(key)
    client.post(
        "/api/generate",
        json={"model": "llama3.2", "prompt": "x", "stream": False},
        headers=headers,
    ).get_data()
    row = one(app)
    assert row.status == 200 and row.model == "llama3.2"
    assert row.request == {"unrecorded": "the request could not be recorded"}


def test_a_big_body_is_kept_bounded_and_marked(app, client, key):
    """Many strings just under the per-string cap: the record keeps 2 M characters."""
    body = {"model": "llama3.2", "prompt": "p", "stream": False}
    body |= {f"field{i}": "x" * 900_000 for i in range(5)}  # 4.5 M characters
    client.post("/api/generate", json=body, headers=auth(key)).get_data()
    request = one(app).request
    assert request["truncated"] is True
    kept = sum(len(v) for k, v in request.items() if k.startswith("field"))
    assert 2_000_000 <= kept < 2_000_000 + 5 * 40  # plus the markers
    assert request["field4"].startswith("…[900000 characters cut]")
