"""Two live gateways that offload to each other (each lists its own fake Ollama and
the other gateway): no loop of model-list requests, a model only the other has is
served through it and recorded at both (at the peer under the peer's key), each
model list shows both sides, and a call past ``MAX_HOPS`` gets 508."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests
from sqlalchemy import select

from ollama_gate.extensions import db
from ollama_gate.history.models import Request
from tests.fakes.ollama import FakeOllama
from tests.helpers.live import LiveGateway


@pytest.fixture(scope="module")
def peers(tmp_path_factory) -> Iterator[tuple]:
    """(gateway A, gateway B, A's fake, B's fake); B's fake alone has ``only-b``."""
    fake_a, fake_b = FakeOllama().start(), FakeOllama().start()
    fake_b.add_model("only-b:latest")
    env = {"OLLAMA_GATE_HEALTH_INTERVAL": "1"}  # rounds of checks, to show no loop
    gw_a = LiveGateway(tmp_path_factory.mktemp("a"), f"local={fake_a.url}", env=env)
    gw_b = LiveGateway(tmp_path_factory.mktemp("b"), f"local={fake_b.url}", env=env)
    gw_a.start(), gw_b.start()
    try:
        # each calls the other with a key of the other's: its calls are recorded there
        gw_a.cli("backends", "add", "peer-b", gw_b.url, "--token", gw_b.key("gw-a"))
        gw_b.cli("backends", "add", "peer-a", gw_a.url, "--token", gw_a.key("gw-b"))
        key_a = gw_a.key("alice")
        deadline = time.monotonic() + 20
        while "only-b:latest" not in names(gw_a, key_a):
            assert time.monotonic() < deadline, "A never listed B's model"
            time.sleep(0.2)
        yield gw_a, gw_b, fake_a, fake_b, key_a
    finally:
        gw_a.stop(), gw_b.stop()
        fake_a.stop(), fake_b.stop()


def names(gw: LiveGateway, key: str) -> list[str]:
    """The model names of ``gw``'s ``/api/tags``."""
    reply = requests.get(
        gw.url + "/api/tags", headers={"Authorization": f"Bearer {key}"}, timeout=10
    )
    assert reply.status_code == 200, reply.text
    return [m["name"] for m in reply.json()["models"]]


def rows(gw: LiveGateway, model: str) -> list[Request]:
    with gw.app.app_context():
        found = db.session.execute(select(Request).where(Request.model == model))
        return list(found.scalars())


def test_peers_listing_each_other_ask_each_other_no_round_and_round(peers):
    _, _, fake_a, fake_b, _ = peers
    before = len(fake_a.requests), len(fake_b.requests)
    time.sleep(2)
    made = len(fake_a.requests) - before[0], len(fake_b.requests) - before[1]
    # each gateway checks each backend once a second (tags, ps, version): about a
    # dozen in 2 s here; list requests going round made thousands (and still 70
    # with peers' lists asked again, bounded only by 30 hops)
    assert made[0] < 40 and made[1] < 40, made
    assert made[0] > 0 and made[1] > 0  # the checks do run


def test_a_lists_both_sides_models_once(peers):
    gw_a, _, _, _, key_a = peers
    listed = names(gw_a, key_a)
    assert "only-b:latest" in listed and "llama3.2:latest" in listed
    assert len(listed) == len(set(listed))


def test_a_model_only_on_b_is_served_through_a_and_recorded_at_both(peers):
    gw_a, gw_b, fake_a, fake_b, key_a = peers
    reply = requests.post(
        gw_a.url + "/api/chat",
        json={
            "model": "only-b",
            "messages": [{"role": "user", "content": "Hi"}],
            "stream": False,
        },
        headers={"Authorization": f"Bearer {key_a}"},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    assert reply.headers["X-Ollama-Gate-Backend"] == "peer-b"
    assert "X-Ollama-Gate-Hops" not in reply.headers  # between gateways only
    chats = fake_b.requests_to("/api/chat")
    assert chats and chats[-1].headers["x-ollama-gate-hops"] == "2"
    assert not fake_a.requests_to("/api/chat")
    deadline = time.monotonic() + 10
    while not (rows(gw_a, "only-b") and rows(gw_b, "only-b")):
        assert time.monotonic() < deadline, "not recorded at both gateways"
        time.sleep(0.1)
    assert [r.user_name for r in rows(gw_a, "only-b")] == ["alice"]
    assert [r.user_name for r in rows(gw_b, "only-b")] == ["gw-a"]


@pytest.mark.parametrize(
    ("path", "shape"),
    [
        ("/api/chat", lambda e: e["error"]),
        ("/v1/chat/completions", lambda e: e["error"]["message"]),
    ],
)
def test_a_call_past_max_hops_is_refused_as_a_loop(peers, path, shape):
    gw_a, _, fake_a, _, key_a = peers
    asked = len(fake_a.requests_to(path))
    reply = requests.post(
        gw_a.url + path,
        json={"model": "llama3.2", "messages": [{"role": "user", "content": "Hi"}]},
        headers={"Authorization": f"Bearer {key_a}", "X-Ollama-Gate-Hops": "2"},
        timeout=10,
    )
    assert reply.status_code == 508
    assert "loop detected" in shape(reply.json())
    assert len(fake_a.requests_to(path)) == asked


def test_a_hop_count_that_is_not_a_count_is_a_clear_400(peers):
    gw_a, _, _, _, key_a = peers
    reply = requests.get(
        gw_a.url + "/api/tags",
        headers={"Authorization": f"Bearer {key_a}", "X-Ollama-Gate-Hops": "-1"},
        timeout=10,
    )
    assert reply.status_code == 400
    assert "X-Ollama-Gate-Hops" in reply.json()["error"]
