"""Prefix-aware routing: which backend has already read the start of this prompt.

Ollama keeps each slot's last prompt and reads again only what differs from its
start, so a team's long system prompt or an agent's tool definitions cost their
prefill once per backend that keeps them. As vLLM's prefix cache and llm-d's prefix
scorer do, the prompt (its canonical JSON: tools, system and messages, or system and
prompt) is cut into blocks of ``PREFIX_BLOCK`` characters, each hashed with the one
before it, so a block's hash names the whole prefix up to it. What each backend's
slots hold is ``prefixindex.py``'s to remember.
"""

from __future__ import annotations

import hashlib
import json

from flask import Flask

from ..call import Call
from ..gofields import go_field
from .prefixindex import MemoryPrefixes, RedisPrefixes

CHATS = ("/api/chat", "/v1/chat/completions")
PROMPTS = ("/api/generate", "/v1/completions")
MAX_BLOCKS = 4096  # hashed per call at most: a huge prompt costs bounded work
SPREAD = 4  # calls in flight past the least busy that saturate a backend of no cap
SLACK = 8  # a match within 1/8 of the longest counts as the longest (see by_prefix)


def index_for(app: Flask):
    """The blocks each backend served: in Redis with REDIS_URL, else this worker's."""
    s = app.config["GATE"]
    if s["REDIS_URL"]:
        from ..shared.redis_pool import redis_client

        return RedisPrefixes(redis_client(app), s["REDIS_PREFIX"])
    return MemoryPrefixes()


def by_prefix(ranked: list, matched: dict[str, tuple], saturated, last=None) -> list:
    """``ranked`` reordered: healthy first, then among those not ``saturated`` the
    longest prefix a slot holds (within ``SLACK`` of the longest counts as it),
    then where the prompt is the larger share of the calls (its home), then the
    conversation's ``last`` backend, then the fewest prompts served lately; ties
    keep their order (loaded, least busy)."""
    lengths = {
        b.name: 0 if saturated(b) else matched.get(b.name, (0,))[0] for b in ranked
    }
    best = max((lengths[b.name] for b in ranked if b.healthy is True), default=0)

    def key(b):
        length, share, families = matched.get(b.name, (0, 0.0, 0))
        length = lengths[b.name]
        if not length:
            share = 0.0
        elif length >= best - best // SLACK:
            # a conversation that spilled once holds its last turn's few blocks
            # there: its team's home (reading them again) keeps the team together,
            # where the longest match alone would follow the spill and evict
            # another team's prompt there
            length = best
        return (b.healthy is not True, -length, -share, b.name != last, families)

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
