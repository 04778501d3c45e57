"""What each backend's slots hold: the block hashes (``prefix.block_hashes``) of the
last prompts it was sent, one per slot, per model.

Ollama's runner gives a call the slot whose last prompt shares the longest start with
it, else the least recently used, and reads only what differs. So the gateway keeps,
per backend and model, as many prompts as the backend has slots (``--parallel``, else
``DEFAULT_SLOTS``), each sent prompt replacing the one it shares most with (else the
oldest). A backend that served a team's prompt long ago, but has since filled its
slots with others, no longer counts as holding it. Beside that, the first blocks each
backend was sent lately (``FAMILY_SECONDS``) say which prompts it serves: of two
backends holding a prompt, the one where it is the larger share of the calls is its
home (the other took it when the home was full); a new prompt goes where the fewest
different prompts are.

``MemoryPrefixes`` keeps this in the worker; ``RedisPrefixes`` in Redis (every worker
and host; hashes only, never a prompt), failing open: no match, least busy decides.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import OrderedDict

log = logging.getLogger("ollama_gate.routing")

DEFAULT_SLOTS = 4  # Ollama's slots per model when --parallel does not say
FAMILY_SECONDS = 600.0  # a prompt's first block served this recently claims a backend
TRIM_EVERY = 20  # Redis: one record in this many trims the first blocks' set
TTL = 86400  # Redis: a backend's entries expire a day after its last call


def common(a: list[int], b: list[int]) -> int:
    """How many leading hashes ``a`` and ``b`` share."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def best_of(chains: list[list[int]], hashes: list[int]) -> int:
    """The longest start a slot shares with ``hashes``."""
    return max((common(c, hashes) for c in chains), default=0)


def replaced(chains: list, hashes: list[int], slots: int) -> list:
    """The slots after ``hashes`` is sent: it takes the slot sharing most with it,
    else the least recently used (the list is oldest first)."""
    lens = [common(c, hashes) for c in chains]
    out = list(chains)
    if lens and max(lens) > 0:
        out.pop(max(range(len(lens)), key=lambda i: (lens[i], i)))
    while len(out) >= slots:
        out.pop(0)
    out.append(hashes)
    return out


class MemoryPrefixes:
    """Each backend's slots, in this worker."""

    def __init__(self):
        self._slots: dict[tuple[str, str], list[list[int]]] = {}
        # backend -> first block -> [last sent, calls], oldest first; and the calls
        self._heads: dict[str, OrderedDict[int, list]] = {}
        self._calls: dict[str, int] = {}
        self._lock = threading.Lock()

    def matches(self, backends: list[str], model: str, hashes: list[int]) -> dict:
        """Per backend: (blocks its best slot shares, this prompt's share of its
        calls lately, prompts served lately)."""
        with self._lock:
            out = {}
            for name in backends:
                self._expire(name, time.monotonic())
                heads = self._heads.get(name) or {}
                mine = heads.get(hashes[0], (0, 0))[1]
                share = mine / max(1, self._calls.get(name, 0))
                chains = self._slots.get((name, model), [])
                out[name] = (best_of(chains, hashes), share, len(heads))
            return out

    def _expire(self, backend: str, now: float) -> None:
        """Forget the prompts ``backend`` has not been sent lately (lock held)."""
        heads = self._heads.get(backend)
        while heads and next(iter(heads.values()))[0] < now - FAMILY_SECONDS:
            _, (_, calls) = heads.popitem(last=False)
            self._calls[backend] -= calls

    def record(self, backend: str, model: str, hashes: list[int], slots: int) -> None:
        """``backend`` was sent this prompt: a slot holds it now."""
        now = time.monotonic()
        with self._lock:
            key = (backend, model)
            self._slots[key] = replaced(self._slots.get(key, []), hashes, slots)
            heads = self._heads.setdefault(backend, OrderedDict())
            entry = heads.setdefault(hashes[0], [now, 0])
            entry[0], entry[1] = now, entry[1] + 1
            heads.move_to_end(hashes[0])
            self._calls[backend] = self._calls.get(backend, 0) + 1
            self._expire(backend, now)


def _pack(hashes: list[int]) -> bytes:
    return b"".join(h.to_bytes(8, "big") for h in hashes)


def _unpack(data: bytes) -> list[int]:
    return [int.from_bytes(data[i : i + 8], "big") for i in range(0, len(data), 8)]


class RedisPrefixes:
    """Each backend's slots in Redis (a list of packed hashes per backend and model,
    oldest first), its prompts' first blocks (a sorted set by time) and their calls
    (a hash, with the total, kept while the backend had a call in the last
    ``FAMILY_SECONDS``)."""

    def __init__(self, client, prefix: str):
        self.client, self.prefix = client, prefix

    def key(self, backend: str, model: str | None = None, what="heads") -> str:
        """The list of ``backend``'s slots of ``model``, or (no model) the set of
        its prompts' first blocks (``what``: or their calls, ``counts``)."""
        if model is None:
            return f"{self.prefix}:prefix-{what}:{backend}"
        return f"{self.prefix}:prefix:{backend}|{model}"

    def matches(self, backends: list[str], model: str, hashes: list[int]) -> dict:
        """Per backend: (blocks its best slot shares, slots sharing them, prompts
        served lately); none when Redis fails."""
        since = time.time() - FAMILY_SECONDS
        pipe = self.client.pipeline(transaction=False)
        for name in backends:
            pipe.lrange(self.key(name, model), 0, -1)
            pipe.zcount(self.key(name), since, "+inf")
            pipe.hmget(self.key(name, what="counts"), [hashes[0], "all"])
        try:
            found = pipe.execute()
        except Exception as exc:  # redis.RedisError, OSError: routing fails open
            log.warning("prefix lookup failed: %s", type(exc).__name__)
            return {}
        out = {}
        for i, name in enumerate(backends):
            chains, families, (mine, calls) = found[3 * i : 3 * i + 3]
            share = int(mine or 0) / max(1, int(calls or 0))
            out[name] = (best_of([_unpack(c) for c in chains], hashes), share, families)
        return out

    def record(self, backend: str, model: str, hashes: list[int], slots: int) -> None:
        """``backend`` was sent this prompt: a slot holds it now (two round trips;
        two workers recording at once may lose one, as a cache may)."""
        key, heads, now = self.key(backend, model), self.key(backend), time.time()
        try:
            chains = [_unpack(c) for c in self.client.lrange(key, 0, -1)]
            pipe = self.client.pipeline(transaction=True)
            pipe.delete(key)
            pipe.rpush(key, *[_pack(c) for c in replaced(chains, hashes, slots)])
            pipe.expire(key, TTL)
            pipe.zadd(heads, {hashes[0]: now})
            if random.randrange(TRIM_EVERY) == 0:
                pipe.zremrangebyscore(heads, "-inf", now - FAMILY_SECONDS)
            pipe.expire(heads, TTL)
            counts = self.key(backend, what="counts")
            pipe.hincrby(counts, hashes[0], 1)
            pipe.hincrby(counts, "all", 1)
            pipe.expire(counts, int(FAMILY_SECONDS))
            pipe.execute()
        except Exception as exc:  # redis.RedisError, OSError: only routing loses
            log.warning("prefix record failed: %s", type(exc).__name__)
