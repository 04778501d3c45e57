"""The hop header between gateways (``routing/hops.py``): every upstream request
carries it, a call past ``MAX_HOPS`` is refused with 508 in its API's shape before
any backend, a count that is not one is a clear 400, and only a gateway that asked
gets it back."""

from __future__ import annotations

import pytest

HOPS = "X-Ollama-Gate-Hops"
CHAT = {"model": "llama3.2", "messages": [{"role": "user", "content": "Hi"}]}


def auth(key: str, **more: str) -> dict:
    return {"Authorization": f"Bearer {key}", **more}


def test_a_clients_call_goes_upstream_as_one_hop(client, key, fake):
    reply = client.post("/api/chat", json={**CHAT, "stream": False}, headers=auth(key))
    assert reply.status_code == 200
    assert fake.requests_to("/api/chat")[-1].headers["x-ollama-gate-hops"] == "1"
    assert HOPS not in reply.headers  # a client never sees it


def test_a_gateways_call_goes_on_one_hop_more_and_is_answered_with_it(
    client, key, fake
):
    reply = client.post(
        "/api/chat", json={**CHAT, "stream": False}, headers=auth(key, **{HOPS: "1"})
    )
    assert reply.status_code == 200
    assert reply.headers[HOPS] == "1"  # the asking gateway learns this is a peer
    assert fake.requests_to("/api/chat")[-1].headers["x-ollama-gate-hops"] == "2"


@pytest.mark.parametrize(
    ("path", "message_of"),
    [
        ("/api/chat", lambda body: body["error"]),
        ("/v1/chat/completions", lambda body: body["error"]["message"]),
        ("/v1/messages", lambda body: body["error"]["message"]),
    ],
)
def test_past_max_hops_is_508_in_the_apis_shape_and_reaches_no_backend(
    client, key, fake, path, message_of
):
    body = {**CHAT, "max_tokens": 8}
    reply = client.post(path, json=body, headers=auth(key, **{HOPS: "2"}))
    assert reply.status_code == 508
    assert "loop detected" in message_of(reply.get_json())
    assert reply.headers[HOPS] == "2"
    assert fake.calls() == []


# "\xb2" and "\xb9" (superscript two and one, Latin-1 as WSGI reads header bytes)
# are digits to str.isdigit but not to int(): they were a 500
@pytest.mark.parametrize("value", ["-1", "one", "1.5", "99999", " ", "\xb2", "\xb9"])
def test_a_hop_count_that_is_not_a_count_is_400(client, key, fake, value):
    reply = client.get("/api/tags", headers=auth(key, **{HOPS: value}))
    assert reply.status_code == 400
    assert HOPS in reply.get_json()["error"]
