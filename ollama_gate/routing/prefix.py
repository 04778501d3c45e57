"""Prefix-aware routing: which backend has already read the start of this prompt.

Ollama keeps each slot's last prompt and reads again only what differs from its
start, so a team's long system prompt or an agent's tool definitions cost their
prefill once per backend that keeps them. As vLLM's prefix cache and llm-d's prefix
scorer do, the prompt (its canonical JSON: tools, system and messages, or system and
prompt) is cut into blocks of ``PREFIX_BLOCK`` characters, each hashed with the one
before it, so a block's hash names the whole prefix up to it. Each backend remembers
the blocks of the calls it was sent and how often (``PREFIX_MEMORY`` per backend,
least recently used forgotten; with Redis, shared by every worker and host, the
least used). Of two backends with the same prefix, the one that served it more often
has it in more of its slots: it goes first. A prompt no backend has goes where the
fewest different prompts (first blocks) were served in the last ``FAMILY_SECONDS``:
two teams' prompts do not start on one backend while another serves none.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import random
import threading
import time
from collections import OrderedDict

from flask import Flask

from ..call import Call
from ..gofields import go_field

log = logging.getLogger("ollama_gate.routing")

CHATS = ("/api/chat", "/v1/chat/completions")
PROMPTS = ("/api/generate", "/v1/completions")
MAX_BLOCKS = 4096  # hashed per call at most: a huge prompt costs bounded work
TRIM_EVERY = 20  # Redis: one record in this many trims the set back to its bound
SPREAD = 4  # calls in flight past the least busy that saturate a backend of no cap
FAMILY_SECONDS = 600.0  # a prompt's first block served this recently claims a backend


def index_for(app: Flask):
    """The blocks each backend served: in Redis with REDIS_URL, else this worker's."""
    s = app.config["GATE"]
    if s["REDIS_URL"]:
        from ..limits.rates import redis_client

        return RedisPrefixes(redis_client(app), s["REDIS_PREFIX"], s["PREFIX_MEMORY"])
    return MemoryPrefixes(s["PREFIX_MEMORY"])


def by_prefix(ranked: list, matched: dict[str, tuple], saturated) -> list:
    """``ranked`` reordered: healthy first, then among those not ``saturated`` the
    longest prefix served, then served most often, then the fewest prompts served
    lately; ties keep their order (affinity, loaded, least busy)."""

    def key(b):
        length, hits, families = matched.get(b.name, (0, 0, 0))
        if saturated(b):
            length = hits = 0
        return (b.healthy is not True, -length, -hits, families)

    return sorted(ranked, key=key)


def _canon(value) -> str:
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))


def rendered(call: Call, model: str | None) -> str | None:
    """The call's prompt as canonical text (each part a prefix of the next turn's),
    or None for a call that has none."""
    payload = call.payload
    if not isinstance(payload, dict) or call.endpoint not in CHATS + PROMPTS:
        return None
    parts = [f"{model or ''}\x1f"]
    if call.endpoint in CHATS:
        tools = go_field(payload, "tools")
        if tools:  # templates render them before the conversation
            parts.append(_canon(tools) + "\x1e")
        messages = go_field(payload, "messages")
        if not isinstance(messages, list) or not messages:
            return None
        parts.extend(_canon(m) + "\x1e" for m in messages)
    else:
        prompt = go_field(payload, "prompt")
        if not prompt:
            return None
        parts.append(_canon(go_field(payload, "system") or "") + "\x1e")
        parts.append(_canon(prompt))
    return "".join(parts)


def block_hashes(text: str, size: int, limit: int = MAX_BLOCKS) -> list[int]:
    """The chained hashes of ``text``'s whole blocks of ``size`` characters: the
    k-th names the first k blocks (a partial last block is not hashed)."""
    data = text.encode()
    out: list[int] = []
    prev = b""
    for start in range(0, min(len(data) // size, limit) * size, size):
        prev = hashlib.blake2b(
            prev + data[start : start + size], digest_size=8
        ).digest()
        out.append(int.from_bytes(prev, "big") >> 1)  # fits a signed 64-bit
    return out


def leading(counts) -> tuple[int, int]:
    """How many of the first counts are set in a row, and the last of them (how
    often the longest prefix was served)."""
    n, last = 0, 0
    for c in itertools.takewhile(bool, counts):
        n, last = n + 1, c
    return n, round(last)


class MemoryPrefixes:
    """Each backend's recent blocks, in this worker (a bounded LRU per backend)."""

    def __init__(self, memory: int):
        self.memory = memory
        self._blocks: dict[str, OrderedDict[int, int]] = {}  # block -> times sent
        self._heads: dict[str, OrderedDict[int, float]] = {}  # first block -> when
        self._lock = threading.Lock()

    def matches(self, backends: list[str], hashes: list[int]) -> dict:
        """Per backend: how many of the leading blocks it has served, how often it
        served the last of them, how many prompts it served lately."""
        since = time.monotonic() - FAMILY_SECONDS
        with self._lock:
            out = {}
            for name in backends:
                seen = self._blocks.get(name) or {}
                heads = self._heads.get(name) or {}
                families = sum(1 for t in heads.values() if t >= since)
                out[name] = (*leading(seen.get(h, 0) for h in hashes), families)
            return out

    def record(self, backend: str, hashes: list[int]) -> None:
        """``backend`` was sent these blocks: remember them (most recent last)."""
        with self._lock:
            seen = self._blocks.setdefault(backend, OrderedDict())
            for h in reversed(hashes):  # the head most recent: forgotten last
                seen[h] = seen.get(h, 0) + 1
                seen.move_to_end(h)
            while len(seen) > self.memory:
                seen.popitem(last=False)
            heads = self._heads.setdefault(backend, OrderedDict())
            now = time.monotonic()
            heads[hashes[0]] = now
            heads.move_to_end(hashes[0])
            while heads and (
                len(heads) > self.memory
                or next(iter(heads.values())) < now - FAMILY_SECONDS
            ):
                heads.popitem(last=False)


class RedisPrefixes:
    """Each backend's blocks in Redis (a sorted set by times sent), shared by every
    worker and host: one round trip to match, one to record; the least sent are
    trimmed, and a backend's set expires a day after its last call."""

    def __init__(self, client, prefix: str, memory: int, ttl: int = 86400):
        self.client, self.prefix, self.memory, self.ttl = client, prefix, memory, ttl

    def key(self, backend: str, what: str = "prefix") -> str:
        """The sorted set of ``backend``'s blocks (or of its prompts' first ones)."""
        return f"{self.prefix}:{what}:{backend}"

    def matches(self, backends: list[str], hashes: list[int]) -> dict:
        """Per backend, how many of the leading blocks it has served and how often
        the last (none when Redis fails: least busy decides, the call goes on)."""
        since = time.time() - FAMILY_SECONDS
        pipe = self.client.pipeline(transaction=False)
        for name in backends:
            pipe.zmscore(self.key(name), hashes)
            pipe.zcount(self.key(name, "heads"), since, "+inf")
        try:
            found = pipe.execute()
        except Exception as exc:  # redis.RedisError, OSError: routing fails open
            log.warning("prefix lookup failed: %s", type(exc).__name__)
            return {}
        return {
            name: (*leading(s or 0 for s in found[2 * i]), found[2 * i + 1])
            for i, name in enumerate(backends)
        }

    def record(self, backend: str, hashes: list[int]) -> None:
        """``backend`` was sent these blocks: count them."""
        key = self.key(backend)
        pipe = self.client.pipeline(transaction=False)
        for i, h in enumerate(hashes):
            # later blocks a hair less: trimming forgets a prompt's tail first
            pipe.zincrby(key, 1 - i * 1e-6, h)
        now, heads = time.time(), self.key(backend, "heads")
        pipe.zadd(heads, {hashes[0]: now})
        if random.randrange(TRIM_EVERY) == 0:
            pipe.zremrangebyrank(key, 0, -self.memory - 1)
            pipe.zremrangebyscore(heads, "-inf", now - FAMILY_SECONDS)
        pipe.expire(key, self.ttl)
        pipe.expire(heads, self.ttl)
        try:
            pipe.execute()
        except Exception as exc:  # redis.RedisError, OSError: only routing loses
            log.warning("prefix record failed: %s", type(exc).__name__)
