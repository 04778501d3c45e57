"""Prefix-aware routing: the prompt's chained block hashes, each backend's bounded
memory of the blocks it served (in a worker, and in Redis), the order it gives, and
under gunicorn: calls of different people sharing a long system prompt land on the
backend that read it first."""

from __future__ import annotations

import time
import uuid
from types import SimpleNamespace

import pytest
import redis

from ollama_gate.routing.prefix import block_hashes, by_prefix, rendered
from ollama_gate.routing.prefixindex import MemoryPrefixes, RedisPrefixes
from tests.helpers.live import LiveGateway, ask_with_system
from tests.helpers.services import REDIS_URL

SYSTEM = "You are the support team's assistant. " * 700  # ~26,000 characters


def chat(system: str, question: str, endpoint="/api/chat", **extra):
    messages = [
        {"role": "system", "content": system},
        {"role": "user", "content": question},
    ]
    return SimpleNamespace(
        endpoint=endpoint, payload={"model": "m", "messages": messages, **extra}
    )


def test_a_prefix_of_the_text_gives_a_prefix_of_the_hashes():
    text = "".join(chr(65 + i % 26) for i in range(1000))
    whole = block_hashes(text, 100)
    assert len(whole) == 10 and len(set(whole)) == 10
    assert block_hashes(text[:350], 100) == whole[:3]  # a partial block: not hashed
    changed = text[:420] + "#" + text[421:]
    assert block_hashes(changed, 100)[:4] == whole[:4]
    # chained: every block after the change differs, even where its text is equal
    assert not set(block_hashes(changed, 100)[4:]) & set(whole)
    assert block_hashes(text, 100, limit=3) == whole[:3]
    assert all(0 <= h < 2**63 for h in whole)  # a Redis member, a signed 64-bit


def test_the_rendered_prompt_shares_its_start_across_people_and_turns():
    a = rendered(chat(SYSTEM, "How do I reset my password? " * 20), "llama3.2")
    b = rendered(chat(SYSTEM, "Where is my invoice? " * 20), "llama3.2")
    ha, hb = block_hashes(a, 256), block_hashes(b, 256)
    shared = len(SYSTEM) // 256 - 1
    assert ha[:shared] == hb[:shared] and ha[-1] != hb[-1]
    # another model's cache is another cache
    other = block_hashes(rendered(chat(SYSTEM, "x"), "qwen2.5"), 256)
    assert other[0] != ha[0]
    # the next turn repeats the whole last prompt: all of its blocks match
    turn = chat(SYSTEM, "How do I reset my password? " * 20)
    turn.payload["messages"] += [
        {"role": "assistant", "content": "Click 'forgot'."},
        {"role": "user", "content": "Thanks; and my e-mail?"},
    ]
    assert block_hashes(rendered(turn, "llama3.2"), 256)[: len(ha)] == ha
    # tools come first: an agent's tool definitions are a prefix too
    tools = [{"type": "function", "function": {"name": "f" * 600}}]
    t1 = rendered(chat("a", "b", tools=tools), "m")
    t2 = rendered(chat("c", "d", tools=tools), "m")
    assert block_hashes(t1, 256)[:2] == block_hashes(t2, 256)[:2]
    gen = SimpleNamespace(
        endpoint="/api/generate", payload={"system": SYSTEM, "prompt": "q1"}
    )
    gen2 = SimpleNamespace(
        endpoint="/api/generate", payload={"system": SYSTEM, "prompt": "q2"}
    )
    assert (
        block_hashes(rendered(gen, "m"), 256)[:shared]
        == (block_hashes(rendered(gen2, "m"), 256)[:shared])
    )
    # nothing to hash: no prompt, an embedding, a body that is not an object
    assert rendered(chat(SYSTEM, "x", endpoint="/api/embed"), "m") is None
    assert rendered(SimpleNamespace(endpoint="/api/chat", payload=[1]), "m") is None
    empty = SimpleNamespace(endpoint="/api/chat", payload={"messages": []})
    assert rendered(empty, "m") is None


def test_each_backend_holds_one_prompt_per_slot():
    """As Ollama's slots: a prompt takes the slot sharing most with it, else the
    least recently used; a backend whose slots moved on no longer holds a prefix."""
    index = MemoryPrefixes()
    index.record("gpu1", "m", [1, 2, 3, 4], slots=2)
    index.record("gpu2", "m", [1, 2], slots=2)
    index.record("gpu2", "m", [1, 2, 5], slots=2)  # shares [1, 2]: takes that slot
    index.record("gpu2", "m", [7], slots=2)
    # (blocks its best slot shares, the prompt's share of calls, prompts lately)
    assert index.matches(["gpu1", "gpu2", "gpu3"], "m", [1, 2, 3, 9]) == {
        "gpu1": (3, 1.0, 1),
        "gpu2": (2, 2 / 3, 2),
        "gpu3": (0, 0.0, 0),
    }
    assert index.matches(["gpu1"], "m", [9, 2, 3])["gpu1"][0] == 0  # leading only
    assert index.matches(["gpu1"], "other", [1, 2])["gpu1"][0] == 0  # per model
    index.record("gpu1", "m", [1, 2, 3, 7], slots=2)  # shares 3: the same slot
    assert index.matches(["gpu1"], "m", [1, 2, 3, 4])["gpu1"][0] == 3
    index.record("gpu1", "m", [8, 8], slots=2)  # another prompt: the free slot
    index.record("gpu1", "m", [9, 9], slots=2)  # and another: the oldest slot goes
    assert index.matches(["gpu1"], "m", [1, 2, 3, 7])["gpu1"] == (0, 0.5, 3)
    assert index.matches(["gpu1"], "m", [9, 9])["gpu1"][0] == 2
    index.record("gpu3", "m", [1, 2, 3], slots=4)
    index.record("gpu3", "m", [5, 6], slots=4)
    index.record("gpu3", "m", [1, 2, 4], slots=4)  # shares 2: takes [1, 2, 3]'s slot
    assert index.matches(["gpu3"], "m", [1, 2, 3])["gpu3"][0] == 2
    assert index.matches(["gpu3"], "m", [5, 6])["gpu3"][0] == 2


@pytest.mark.needs_redis
def test_redis_shares_the_slots_between_workers():
    client = redis.Redis.from_url(REDIS_URL)
    prefix = f"test-prefix-{uuid.uuid4().hex[:8]}"
    index = RedisPrefixes(client, prefix)
    other = RedisPrefixes(client, prefix)  # another worker
    keys = [index.key("gpu1", "m"), index.key("gpu1"), index.key("gpu1", what="counts")]
    try:
        index.record("gpu1", "m", [11, 12, 2**62 + 13], slots=2)
        index.record("gpu1", "m", [21, 22], slots=2)
        assert other.matches(["gpu1", "gpu2"], "m", [11, 12, 2**62 + 13]) == {
            "gpu1": (3, 0.5, 2),
            "gpu2": (0, 0.0, 0),
        }
        other.record("gpu1", "m", [31], slots=2)  # the oldest slot, [11, ...], goes
        assert index.matches(["gpu1"], "m", [11, 12])["gpu1"][0] == 0
        assert client.llen(keys[0]) == 2
        assert all(0 < client.ttl(k) <= 86400 for k in keys)
    finally:
        client.delete(*keys)
    broken = RedisPrefixes(redis.Redis(port=1, socket_connect_timeout=0.2), "x")
    assert broken.matches(["gpu1"], "m", [1]) == {}  # routing fails open
    broken.record("gpu1", "m", [1], slots=1)  # and recording too


def test_the_longest_prefix_goes_first_until_it_is_saturated():
    def b(name, healthy=True):
        return SimpleNamespace(name=name, healthy=healthy)

    ranked = [b("least-busy"), b("second"), b("longest"), b("down", healthy=None)]
    matched = {
        "least-busy": (0, 0.0, 0),
        "second": (3, 0.5, 0),
        "longest": (9, 0.5, 0),
        "down": (20, 1.0, 0),
    }
    order = by_prefix(ranked, matched, lambda s: False)
    assert [s.name for s in order] == ["longest", "second", "least-busy", "down"]
    full = by_prefix(ranked, matched, lambda s: s.name == "longest")
    assert [s.name for s in full] == ["second", "least-busy", "longest", "down"]
    # of equal prefixes, the prompt's home: where it is the larger share of calls
    matched["second"] = (9, 0.9, 3)
    order = by_prefix(ranked, matched, lambda s: False)
    assert [s.name for s in order][:2] == ["second", "longest"]
    # no match anywhere: the backend serving the fewest prompts lately, then the
    # ranking as it was (affinity, loaded, least busy)
    fresh = {"least-busy": (0, 0, 2), "second": (0, 0, 1), "longest": (0, 0, 1)}
    order = by_prefix(ranked, fresh, lambda s: False)
    assert [s.name for s in order] == ["second", "longest", "least-busy", "down"]
    same = by_prefix(ranked, {}, lambda s: False)
    assert [s.name for s in same] == ["least-busy", "second", "longest", "down"]
    # a conversation's last backend goes before the fewest prompts: its turns that
    # grew past one block stay where the short ones went
    order = by_prefix(ranked, fresh, lambda s: False, last="least-busy")
    assert [s.name for s in order][0] == "least-busy"


def test_a_team_stays_home_when_a_spill_holds_a_few_blocks_more():
    """A user's turn that once spilled to another backend left its whole last prompt
    there, a few blocks longer than the team's system prompt at home: the home
    still goes first (reading those blocks again), not the spill (where the team
    would evict another team's prompt). A match much longer still wins."""

    def b(name):
        return SimpleNamespace(name=name, healthy=True)

    ranked = [b("spill"), b("home"), b("idle")]
    matched = {"spill": (98, 0.1, 3), "home": (94, 0.9, 1), "idle": (0, 0.0, 0)}
    order = by_prefix(ranked, matched, lambda s: False)
    assert [s.name for s in order] == ["home", "spill", "idle"]
    matched["home"] = (60, 0.9, 1)  # the spill holds far more: it reads less there
    order = by_prefix(ranked, matched, lambda s: False)
    assert [s.name for s in order] == ["spill", "home", "idle"]


NAMES = ("gpu1", "gpu2", "gpu3")


@pytest.mark.needs_redis
def test_a_shared_system_prompt_brings_everyone_to_its_backend(tmp_path, fake_pool):
    """Two workers sharing the blocks through Redis: nine people of one team (one key
    each), one after another, all reach the backend that read their prompt first; a
    second team's prompt gets a backend of its own the same way."""
    backends = ",".join(f"{n}={f.url}" for n, f in zip(NAMES, fake_pool, strict=True))
    prefix = f"test-prefix-{uuid.uuid4().hex[:8]}"
    gw = LiveGateway(
        tmp_path,
        backends,
        workers=2,
        env={
            "OLLAMA_GATE_REDIS_URL": REDIS_URL,
            "OLLAMA_GATE_REDIS_PREFIX": prefix,
            "OLLAMA_GATE_ROUTING": "prefix",
            # each worker checks the fakes at start; on a loaded machine one check
            # may time out, and that worker would route around a healthy backend
            # for the health interval (CI saw calls alternate between two)
            "OLLAMA_GATE_HEALTH_INTERVAL": "0.5",
        },
    ).start()
    try:
        time.sleep(1.5)  # every worker has checked every fake again since its start
        keys = [gw.key(f"user{i}") for i in range(9)]

        def ask(key, system, question):
            resp = ask_with_system(gw, key, system, question, timeout=30)
            return resp.headers["X-Ollama-Gate-Backend"]

        for team in ("support", "legal"):
            system = f"You are the {team} team's assistant. " * 800
            first = ask(keys[0], system, "first question")
            landed = [ask(k, system, f"question {i}") for i, k in enumerate(keys)]
            assert landed == [first] * len(keys), landed
            fake = fake_pool[NAMES.index(first)]
            sent = [r for r in fake.requests if r.path == "/api/chat"]
            assert len(sent) >= 10
        # Redis holds numbers only: no word of a prompt, no key
        client = redis.Redis.from_url(REDIS_URL)
        stored = []
        for k in client.scan_iter(f"{prefix}:*"):
            if client.type(k) == b"zset":
                stored += [k, *client.zrange(k, 0, -1)]
            elif client.type(k) == b"list":
                stored += [k, *client.lrange(k, 0, -1)]
            elif client.type(k) == b"hash":
                stored += [k, *client.hkeys(k)]
        assert any(b":prefix:" in k for k in stored)
        text = b" ".join(stored)
        assert b"team" not in text and b"question" not in text
        assert not any(k.encode()[:12] in text for k in keys)
    finally:
        gw.stop()
