"""What reading a prompt costs on each backend, learned from its answers, and how long
a call may wait for its prompt's home rather than read the prompt cold elsewhere.

Ollama's last chunk says how many prompt tokens it read (``prompt_eval_count``: only
what the slot's cache did not hold) and how long that took (``prompt_eval_duration``),
so each backend's milliseconds per token read are known after a few calls. When a
call's home (the backend whose slot holds the longest start of its prompt) has every
slot taken, the next best backend would read the blocks it lacks again: that many
tokens at that backend's rate (the whole prefix when that backend is another
prompt's home: the call would evict that prompt there, and its next call read it
cold; ``Routing.hold``). The call waits for a home slot up to that cost (and
``PREFIX_WAIT``), then takes the next best. Waiting at most what the other choice
costs is the ski-rental rule: a call whose home stays busy pays at worst twice the
cold read; one whose home frees sooner (the common case: a slot frees within a
call's length) reads only its new turn. The rates are this worker's own: each worker
learns them from the calls it relays.
"""

from __future__ import annotations

import threading

CHARS_PER_TOKEN = 4  # of a rendered prompt, as a rule of thumb (the blocks count chars)
KEEP = 0.9  # each new answer's weight against the ones before it (decayed sums)
MIN_TOKENS = 32  # a read this short is mostly fixed cost: it says little of the rate


class PrefillRates:
    """Per backend, decayed sums of prompt reading time and tokens: their ratio is
    the rate (long reads weigh more, as they should: they are what a wait saves)."""

    def __init__(self):
        self._sums: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def learn(self, backend: str, tokens, nanoseconds) -> None:
        """One answer's ``prompt_eval_count`` and ``prompt_eval_duration``."""
        if not isinstance(tokens, int) or not isinstance(nanoseconds, int):
            return
        if tokens < MIN_TOKENS or nanoseconds <= 0:
            return
        with self._lock:
            ms, n = self._sums.get(backend, (0.0, 0.0))
            self._sums[backend] = (ms * KEEP + nanoseconds / 1e6, n * KEEP + tokens)

    def ms_per_token(self, backend: str) -> float | None:
        """Milliseconds ``backend`` takes per prompt token read; None before it was
        seen reading a prompt."""
        ms, n = self._sums.get(backend, (0.0, 0.0))
        return ms / n if n else None

    def learn_calls(self, calls) -> None:
        """The rates from a batch of finished calls (their summaries read)."""
        for call in calls:
            stats = call.stats or {}
            if call.backend and call.status == 200:
                self.learn(
                    call.backend,
                    stats.get("prompt_tokens"),
                    stats.get("prompt_eval_duration"),
                )


def hold_seconds(
    rates: PrefillRates, home, other, blocks: int, block: int, most: float
) -> float:
    """How long a call may wait for ``home``: what ``other`` would take to read the
    ``blocks`` blocks (of ``block`` characters) that only ``home`` holds, at most
    ``most`` seconds; 0 while neither backend's rate is known."""
    if blocks <= 0 or most <= 0:
        return 0.0
    rate = rates.ms_per_token(other.name)
    if rate is None:  # a backend not yet seen reading: assume it reads as the home
        rate = rates.ms_per_token(home.name)
    if rate is None:
        return 0.0
    return min(most, blocks * block / CHARS_PER_TOKEN * rate / 1000)
