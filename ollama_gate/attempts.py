"""Guesses counted per client address *before* they are checked: admin logins, and
keys looked up on the usage API.

Flask-Limiter's ``deduct_when`` tests a limit before a request and counts the request
after its answer: 40 wrong passwords sent at once all passed the test before the
first was counted, and all 40 were checked. Here an attempt is counted first, by one
atomic increment in the limiter's own storage (a lock in one worker; one Redis
script shared by every worker and host), and refused past the limit before anything
is checked. An attempt that succeeds is given back (``give_back``), so only failures
lock an address out, as before.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from flask import Flask, current_app
from flask_limiter.util import get_remote_address
from limits import parse_many

STORAGE = "ollama_gate_attempts"  # app.extensions: the storage the counters live in


class TooManyAttempts(Exception):
    """An address past its limit; ``retry_after`` seconds until the window ends."""

    def __init__(self, retry_after: int):
        super().__init__(f"too many attempts; retry in {retry_after} s")
        self.retry_after = retry_after


@dataclass(slots=True)
class Attempt:
    """The counters one attempt raised: (storage key, expiry) each."""

    counted: list[tuple[str, int]] = field(default_factory=list)


def init_app(app: Flask, storage) -> None:
    """Keep this app's limiter storage (the limiter object is shared by apps)."""
    app.extensions[STORAGE] = storage


def count_attempt(scope: str, spec: str) -> Attempt:
    """Count one attempt of this client address in each window of ``spec``
    (Flask-Limiter syntax); raise ``TooManyAttempts`` past any of them."""
    storage = current_app.extensions[STORAGE]
    address = get_remote_address()  # the limiter's own key: the trusted address
    attempt = Attempt()
    for item in parse_many(spec):
        key = item.key_for("attempts", scope, address)
        expiry = item.get_expiry()
        # one atomic increment: parallel attempts each see their own count
        count = storage.incr(key, expiry)
        attempt.counted.append((key, expiry))
        if count > item.amount:
            wait = storage.get_expiry(key) - time.time()
            raise TooManyAttempts(max(1, math.ceil(wait)))
    return attempt


def give_back(attempt: Attempt) -> None:
    """Uncount a successful attempt: a success is not a guess."""
    storage = current_app.extensions[STORAGE]
    for key, expiry in attempt.counted:
        decr = getattr(storage, "decr", None)
        if decr is not None:  # memory: never below zero
            decr(key)
        else:  # Redis: INCRBY -1 in the same script as every increment
            storage.incr(key, expiry, -1)
